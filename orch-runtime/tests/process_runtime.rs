//! ProcessRuntime with real processes: sh, sleep, and the workspace's
//! `orch-web`. It runs the Runtime conformance suite; the tests below are
//! what only the process runtime does (loopback pod IPs, process groups,
//! adoption across restarts, images as host programs). Every test checks
//! that no process it started is left behind.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use orch_core::testing::{wait_for, wait_until};
use orch_runtime::conformance::DEADLINE;
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_runtime::runtime::*;

mod support;

use support::sandbox_config;

const WEB: &str = env!("CARGO_BIN_EXE_orch-web");

fn runtime(root: &std::path::Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessRuntimeConfig::new(root).image("web:v1", &[WEB])).unwrap()
}

mod conformance {
    orch_runtime::runtime_conformance_tests!(async {
        let dir = tempfile::tempdir().unwrap();
        orch_runtime::conformance::Subject::new(
            super::runtime(dir.path()),
            orch_runtime::runtime::ImageSpec::default(),
            dir,
        )
    });
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
    orch_runtime::conformance::wait_state(rt, id, ContainerState::Exited).await
}

fn gone(pid: i32) -> bool {
    // A reaped process has no /proc entry (a zombie would).
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn assert_no_leftovers(pids: &[i32]) {
    wait_for("the containers' processes to be reaped", DEADLINE, || async {
        let left: Vec<&i32> = pids.iter().filter(|p| !gone(**p)).collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("left behind: {left:?}"))
        }
    })
    .await
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
async fn a_program_that_does_not_exist_fails_to_start_with_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = rt.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
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
    let (ra, rb) = wait_for("both web servers to answer", DEADLINE, || async {
        match (http_get(&format!("{ip_a}:18070"), "/"), http_get(&format!("{ip_b}:18070"), "/")) {
            (Some(ra), Some(rb)) => Ok((ra, rb)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(ra.ends_with("web-a v1\n"), "{ra}");
    assert!(rb.ends_with("web-b v1\n"), "{rb}");
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

/// The demo server drains on SIGTERM (the conformance suite has the
/// generic SIGTERM-then-SIGKILL case); a container that ignores SIGTERM is
/// killed with its whole process group, children included.
#[tokio::test]
async fn stop_lets_the_demo_server_drain_and_kills_a_stubborn_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = rt.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
    // Honours SIGTERM after a 200 ms cleanup.
    let mut web =
        ContainerConfig { image: ImageSpec { image: "web:v1".into() }, ..container("web", &[]) };
    web.envs = vec![("PORT".into(), "18071".into()), ("STOP_DELAY_MS".into(), "200".into())];
    let graceful = run(&rt, &sb, &web).await;
    let ip = rt.pod_sandbox_status(&sb).await.unwrap().ip;
    wait_until("the demo server to answer", DEADLINE, || async {
        http_get(&format!("{ip}:18071"), "/healthz").is_some()
    })
    .await;
    rt.stop_container(&graceful, Duration::from_secs(10)).await.unwrap();
    let s = rt.container_status(&graceful).await.unwrap();
    assert_eq!(s.exit_code, 0, "exited on its own after SIGTERM");
    let log = std::fs::read_to_string(&s.log_path).unwrap();
    assert!(log.contains("SIGTERM received") && log.contains("exiting"), "{log}");

    // Ignores SIGTERM and has children: all killed after the timeout.
    let stubborn = run(
        &rt,
        &sb,
        &container(
            "stubborn",
            &["sh", "-c", "trap '' TERM; echo trapped; sleep 60 & sleep 60; wait"],
        ),
    )
    .await;
    let pid = rt.running_pids()[0];
    orch_runtime::conformance::wait_logged(&rt, &stubborn, "trapped").await;
    rt.stop_container(&stubborn, Duration::from_millis(300)).await.unwrap();
    let s = rt.container_status(&stubborn).await.unwrap();
    assert_eq!(s.exit_code, 137, "128 + SIGKILL");
    assert_no_leftovers(&[pid]).await;
    wait_until("the container's children to be killed with it", DEADLINE, || async {
        match std::process::Command::new("pgrep").args(["-g", &pid.to_string()]).output() {
            Ok(o) => o.stdout.is_empty(),
            // No pgrep here: the group kill is still asserted by the exit code.
            Err(_) => true,
        }
    })
    .await;
    rt.remove_pod_sandbox(&sb).await.unwrap();
}

/// ExecSync runs with the container's environment, POD_IP included (the
/// process runtime's pod address).
#[tokio::test]
async fn exec_sync_sees_the_containers_environment_and_pod_ip() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = rt.run_pod_sandbox(&sandbox_config("p")).await.unwrap();
    let mut cfg = container("main", &["sleep", "30"]);
    cfg.envs = vec![("GREETING".into(), "hello".into())];
    let id = run(&rt, &sb, &cfg).await;
    let pids = rt.running_pids();
    let ip = rt.pod_sandbox_status(&sb).await.unwrap().ip;
    let cmd: Vec<String> =
        ["sh", "-c", "echo $GREETING $POD_IP"].iter().map(|s| s.to_string()).collect();
    let r = rt.exec_sync(&id, &cmd, Duration::from_secs(5)).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), format!("hello {ip}\n"));
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

/// A process has no mount namespace: its mounts are symlinks under
/// `$ORCH_ROOT`, a directory of its own that goes with the container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounts_are_symlinks_under_orch_root() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let host = dir.path().join("volume");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("greeting"), "hello").unwrap();
    let sid = rt.run_pod_sandbox(&sandbox_config("m")).await.unwrap();
    let mut cfg = container("main", &["sleep", "60"]);
    cfg.mounts = vec![Mount {
        container_path: "/etc/config".into(),
        host_path: host.display().to_string(),
        readonly: true,
    }];
    let cid = run(&rt, &sid, &cfg).await;
    let cmd = ["sh", "-c", "cat ${ORCH_ROOT}/etc/config/greeting; echo \" $ORCH_ROOT\""];
    let cmd: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
    let r = rt.exec_sync(&cid, &cmd, Duration::from_secs(10)).await.unwrap();
    let out = String::from_utf8_lossy(&r.stdout).into_owned();
    let (content, root) = out.trim_end().split_once(' ').unwrap();
    assert_eq!(content, "hello");
    assert!(std::path::Path::new(root).starts_with(dir.path().join("rootfs")), "{root}");
    std::fs::write(host.join("greeting"), "changed").unwrap();
    let r = rt.exec_sync(&cid, &cmd, Duration::from_secs(10)).await.unwrap();
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("changed "));

    // A mount inside another is refused at create.
    let mut nested = container("nested", &["true"]);
    nested.mounts = vec![
        Mount {
            container_path: "/data".into(),
            host_path: host.display().to_string(),
            readonly: false,
        },
        Mount {
            container_path: "/data/sub".into(),
            host_path: host.display().to_string(),
            readonly: false,
        },
    ];
    let err = rt.create_container(&sid, &nested, &sandbox_config("m")).await.unwrap_err();
    assert!(err.to_string().contains("inside another mount"), "{err}");

    rt.remove_pod_sandbox(&sid).await.unwrap();
    assert!(!std::path::Path::new(root).exists(), "the container's root goes with it");
    assert_eq!(std::fs::read_to_string(host.join("greeting")).unwrap(), "changed");
}
