//! ProcessRuntime with real processes: sh, sleep, and the workspace's
//! `orch-web`. Every test checks that no process it started is left behind.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_runtime::runtime::*;

mod support;

use support::sandbox_config;

const DEADLINE: Duration = Duration::from_secs(20);
const WEB: &str = env!("CARGO_BIN_EXE_orch-web");

fn runtime(root: &std::path::Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessRuntimeConfig::new(root).image("web:v1", &[WEB])).unwrap()
}

fn container(name: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: ContainerMetadata { name: name.into(), attempt: 0 },
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        labels: BTreeMap::from([("orch.io/container".to_string(), name.to_string())]),
        ..Default::default()
    }
}

async fn run(rt: &ProcessRuntime, sandbox: &str, cfg: &ContainerConfig) -> String {
    let id = rt.create_container(sandbox, cfg, &sandbox_config("x")).await.unwrap();
    rt.start_container(&id).await.unwrap();
    id
}

async fn wait_exited(rt: &ProcessRuntime, id: &str) -> ContainerStatus {
    let start = Instant::now();
    loop {
        let s = rt.container_status(id).await.unwrap();
        if s.state == ContainerState::Exited {
            return s;
        }
        assert!(start.elapsed() < DEADLINE, "container {id} did not exit");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn gone(pid: i32) -> bool {
    // A reaped process has no /proc entry (a zombie would).
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn assert_no_leftovers(pids: &[i32]) {
    let start = Instant::now();
    while !pids.iter().all(|p| gone(*p)) {
        assert!(
            start.elapsed() < DEADLINE,
            "processes left behind: {:?}",
            pids.iter().filter(|p| !gone(**p)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test]
async fn containers_start_exit_with_their_codes_and_log_in_cri_format() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = rt.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
    let ok = run(&rt, &sb, &container("ok", &["sh", "-c", "echo to-out; echo to-err >&2"])).await;
    let fail = run(&rt, &sb, &container("fail", &["sh", "-c", "exit 3"])).await;
    let s = wait_exited(&rt, &ok).await;
    assert_eq!((s.exit_code, s.reason.as_str()), (0, "Completed"));
    assert!(s.started_at > 0 && s.finished_at >= s.started_at);
    let f = wait_exited(&rt, &fail).await;
    assert_eq!((f.exit_code, f.reason.as_str()), (3, "Error"));

    let log = std::fs::read_to_string(&s.log_path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in &lines {
        let mut parts = line.splitn(4, ' ');
        let ts = parts.next().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "timestamp {ts}");
        let stream = parts.next().unwrap();
        assert_eq!(parts.next(), Some("F"));
        let text = parts.next().unwrap();
        assert!(
            (stream == "stdout" && text == "to-out") || (stream == "stderr" && text == "to-err"),
            "{line}"
        );
    }
    // A program that does not exist fails to start, with a reason.
    let missing = rt
        .create_container(&sb, &container("missing", &["/no/such/program"]), &sandbox_config("p"))
        .await
        .unwrap();
    assert!(rt.start_container(&missing).await.is_err());
    let m = rt.container_status(&missing).await.unwrap();
    assert_eq!(
        (m.state, m.exit_code, m.reason.as_str()),
        (ContainerState::Exited, 128, "StartError")
    );

    let listed = rt
        .list_containers(&ContainerFilter {
            pod_sandbox_id: Some(sb.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    rt.remove_pod_sandbox(&sb).await.unwrap();
    assert!(rt.list_containers(&ContainerFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn each_sandbox_has_its_own_loopback_address_passed_as_pod_ip() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let a = rt.run_pod_sandbox(&sandbox_config("a")).await.unwrap();
    let b = rt.run_pod_sandbox(&sandbox_config("b")).await.unwrap();
    let (ip_a, ip_b) =
        (rt.pod_sandbox_status(&a).await.unwrap().ip, rt.pod_sandbox_status(&b).await.unwrap().ip);
    assert_ne!(ip_a, ip_b);
    assert!(ip_a.starts_with("127.0.") && ip_a != "127.0.0.1");
    // Two web servers on the same port, one per pod IP (a port no other
    // test uses: the CRI cluster example binds *:18080 on the host).
    let mut web =
        ContainerConfig { image: ImageSpec { image: "web:v1".into() }, ..container("web", &[]) };
    web.envs = vec![("PORT".into(), "18070".into()), ("POD_NAME".into(), "web-a".into())];
    let wa = run(&rt, &a, &web).await;
    web.envs[1].1 = "web-b".into();
    let wb = run(&rt, &b, &web).await;
    let pids = rt.running_pids();
    let start = Instant::now();
    loop {
        let (ra, rb) =
            (http_get(&format!("{ip_a}:18070"), "/"), http_get(&format!("{ip_b}:18070"), "/"));
        if let (Some(ra), Some(rb)) = (ra, rb) {
            assert!(ra.ends_with("web-a v1\n"), "{ra}");
            assert!(rb.ends_with("web-b v1\n"), "{rb}");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "web servers did not answer");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let echo =
        run(&rt, &a, &container("echo", &["sh", "-c", "echo ip=$POD_IP host=$HOSTNAME"])).await;
    let s = wait_exited(&rt, &echo).await;
    assert!(std::fs::read_to_string(&s.log_path).unwrap().contains(&format!("ip={ip_a} host=a")));
    for id in [&wa, &wb] {
        rt.stop_container(id, Duration::from_secs(5)).await.unwrap();
    }
    rt.remove_pod_sandbox(&a).await.unwrap();
    rt.remove_pod_sandbox(&b).await.unwrap();
    assert_no_leftovers(&pids).await;
}

#[tokio::test]
async fn stop_sends_sigterm_then_sigkill_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = rt.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
    // Honours SIGTERM after a 200 ms cleanup.
    let mut web =
        ContainerConfig { image: ImageSpec { image: "web:v1".into() }, ..container("web", &[]) };
    web.envs = vec![("PORT".into(), "18071".into()), ("STOP_DELAY_MS".into(), "200".into())];
    let graceful = run(&rt, &sb, &web).await;
    let ip = rt.pod_sandbox_status(&sb).await.unwrap().ip;
    let start = Instant::now();
    while http_get(&format!("{ip}:18071"), "/healthz").is_none() {
        assert!(start.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = Instant::now();
    rt.stop_container(&graceful, Duration::from_secs(10)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200), "the grace period was used");
    let s = rt.container_status(&graceful).await.unwrap();
    assert_eq!(s.exit_code, 0, "exited on its own after SIGTERM");
    let log = std::fs::read_to_string(&s.log_path).unwrap();
    assert!(log.contains("SIGTERM received") && log.contains("exiting"), "{log}");

    // Ignores SIGTERM: killed after the timeout, with its children.
    let stubborn = run(
        &rt,
        &sb,
        &container(
            "stubborn",
            &["sh", "-c", "trap '' TERM; echo ready; sleep 60 & sleep 60; wait"],
        ),
    )
    .await;
    let pid = rt.running_pids()[0];
    let log_path = rt.container_status(&stubborn).await.unwrap().log_path;
    let start = Instant::now();
    while !std::fs::read_to_string(&log_path).unwrap_or_default().contains("ready") {
        assert!(start.elapsed() < DEADLINE, "the trap was never set");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t = Instant::now();
    rt.stop_container(&stubborn, Duration::from_millis(300)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    let s = rt.container_status(&stubborn).await.unwrap();
    assert_eq!(s.exit_code, 137, "128 + SIGKILL");
    assert_no_leftovers(&[pid]).await;
    let start = Instant::now();
    loop {
        let out = std::process::Command::new("pgrep").args(["-g", &pid.to_string()]).output();
        match out {
            Ok(o) if o.stdout.is_empty() => break,
            Err(_) => break, // no pgrep here: the group kill is still asserted by the exit code
            Ok(_) => {}
        }
        assert!(start.elapsed() < DEADLINE, "the container's children were left behind");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rt.remove_pod_sandbox(&sb).await.unwrap();
}

#[tokio::test]
async fn exec_sync_runs_in_the_container_environment_with_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = rt.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
    let mut cfg = container("main", &["sleep", "30"]);
    cfg.envs = vec![("GREETING".into(), "hello".into())];
    let id = run(&rt, &sb, &cfg).await;
    let pids = rt.running_pids();
    let ip = rt.pod_sandbox_status(&sb).await.unwrap().ip;
    let cmd: Vec<String> = ["sh", "-c", "echo $GREETING $POD_IP; echo oops >&2; exit 4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let r = rt.exec_sync(&id, &cmd, Duration::from_secs(5)).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), format!("hello {ip}\n"));
    assert_eq!(String::from_utf8_lossy(&r.stderr), "oops\n");
    assert_eq!(r.exit_code, 4);
    let slow: Vec<String> = ["sleep", "10"].iter().map(|s| s.to_string()).collect();
    let err = rt.exec_sync(&id, &slow, Duration::from_millis(100)).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    rt.remove_pod_sandbox(&sb).await.unwrap();
    assert_no_leftovers(&pids).await;
}

#[tokio::test]
async fn a_new_runtime_over_the_same_state_adopts_running_containers() {
    let dir = tempfile::tempdir().unwrap();
    let first = runtime(dir.path());
    let sb = first.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
    let id = run(&first, &sb, &container("long", &["sleep", "30"])).await;
    let done = run(&first, &sb, &container("short", &["sh", "-c", "exit 7"])).await;
    wait_exited(&first, &done).await;
    let pids = first.running_pids();
    assert_eq!(pids.len(), 1);
    drop(first);

    let second = runtime(dir.path());
    let sandboxes = second.list_pod_sandbox(&PodSandboxFilter::default()).await.unwrap();
    assert_eq!(sandboxes.len(), 1);
    assert_eq!(sandboxes[0].labels["orch.io/pod"], "p");
    let running = second
        .list_containers(&ContainerFilter {
            state: Some(ContainerState::Running),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(running.len(), 1, "adopted, not started again");
    assert_eq!(running[0].id, id);
    assert_eq!(second.running_pids(), pids, "the same process");
    assert_eq!(second.container_status(&done).await.unwrap().exit_code, 7, "history kept");
    // The adopting runtime reaps it with its exit code.
    second.stop_container(&id, Duration::from_secs(5)).await.unwrap();
    assert_eq!(second.container_status(&id).await.unwrap().exit_code, 143, "128 + SIGTERM");
    second.remove_pod_sandbox(&sb).await.unwrap();
    assert_no_leftovers(&pids).await;
}

#[tokio::test]
async fn images_without_an_entrypoint_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = rt.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
    let cfg = ContainerConfig {
        image: ImageSpec { image: "registry.example.com/app:2".into() },
        ..container("app", &[])
    };
    let err = rt.create_container(&sb, &cfg, &sandbox_config("p")).await.unwrap_err();
    assert!(err.to_string().contains("has no entrypoint"), "{err}");
    // A bare program name is run as the image.
    let bare = ContainerConfig { image: ImageSpec { image: "true".into() }, ..container("t", &[]) };
    let id = run(&rt, &sb, &bare).await;
    assert_eq!(wait_exited(&rt, &id).await.exit_code, 0);
    assert!(rt.image_status(&ImageSpec { image: "web:v1".into() }).await.unwrap().is_some());
    rt.remove_pod_sandbox(&sb).await.unwrap();
}
