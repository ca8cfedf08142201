//! CriRuntime against a real containerd: each test starts its own
//! (`ContainerdProcess`: private config, root, state and socket in a temp
//! dir), imports the pause and busybox images built from the host's static
//! busybox, and cleans everything up on drop. If containerd cannot start,
//! the test fails and says why.
#![cfg(feature = "cri")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use orch_runtime::cri::{CriRuntime, CriRuntimeConfig};
use orch_runtime::runtime::*;
use orch_runtime::testing::{ContainerdProcess, ContainerdProcessConfig, BUSYBOX_IMAGE};

mod support;

use support::sandbox_config;

const DEADLINE: Duration = Duration::from_secs(30);

struct Node {
    containerd: ContainerdProcess,
    rt: CriRuntime,
    _dir: tempfile::TempDir,
}

async fn node() -> Node {
    let dir = tempfile::Builder::new().prefix("orch-cri-").tempdir().unwrap();
    let containerd = ContainerdProcess::start_with_busybox_images(ContainerdProcessConfig::new(
        dir.path().join("c"),
    ))
    .unwrap_or_else(|e| panic!("containerd did not start with its images: {e}"));
    let config = containerd.runtime_config().call_timeout(Duration::from_secs(30));
    let rt = CriRuntime::connect(config).await.unwrap();
    Node { containerd, rt, _dir: dir }
}

fn container(name: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: ContainerMetadata { name: name.into(), attempt: 0 },
        image: ImageSpec { image: BUSYBOX_IMAGE.into() },
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        labels: BTreeMap::from([("orch.io/container".to_string(), name.to_string())]),
        log_path: format!("{name}/0.log"),
        ..Default::default()
    }
}

async fn wait_state(rt: &CriRuntime, id: &str, state: ContainerState) -> ContainerStatus {
    let start = Instant::now();
    loop {
        let s = rt.container_status(id).await.unwrap();
        if s.state == state {
            return s;
        }
        assert!(start.elapsed() < DEADLINE, "container {id} never {state:?}: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_and_container_lifecycle_with_exit_codes_and_logs() {
    let n = node().await;
    let rt = &n.rt;
    let v = rt.version().await.unwrap();
    assert_eq!(v.runtime_name, "containerd");
    assert_eq!(v.runtime_api_version, "v1");
    let image = rt.image_status(&ImageSpec { image: BUSYBOX_IMAGE.into() }).await.unwrap();
    assert!(image.is_some_and(|i| i.repo_tags.iter().any(|t| t == BUSYBOX_IMAGE)));
    assert!(rt
        .image_status(&ImageSpec { image: "localhost/absent:1".into() })
        .await
        .unwrap()
        .is_none());

    let sandbox = sandbox_config("life");
    let sid = rt.run_pod_sandbox(&sandbox).await.unwrap();
    let status = rt.pod_sandbox_status(&sid).await.unwrap();
    assert_eq!(status.state, PodSandboxState::Ready);
    assert_eq!(status.metadata.name, "life");
    assert_eq!(status.ip, "", "no CNI config: the sandbox shares the node's network");
    let listed = rt
        .list_pod_sandbox(&PodSandboxFilter {
            label_selector: sandbox.labels.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [sid.as_str()]);

    let mut cfg =
        container("main", &["sh", "-c", "echo hello $GREETING; echo oops >&2; pwd; exit 3"]);
    cfg.envs = vec![("GREETING".into(), "world".into())];
    cfg.working_dir = "/tmp".into();
    let cid = rt.create_container(&sid, &cfg, &sandbox).await.unwrap();
    assert_eq!(rt.container_status(&cid).await.unwrap().state, ContainerState::Created);
    rt.start_container(&cid).await.unwrap();
    let done = wait_state(rt, &cid, ContainerState::Exited).await;
    assert_eq!(done.exit_code, 3);
    assert_eq!(done.reason, "Error");
    // Both times set (containerd may stamp a very short run's start a
    // little after its exit, so no order is asserted).
    assert!(done.started_at > 0 && done.finished_at > 0, "{done:?}");
    let log = std::fs::read_to_string(&done.log_path).unwrap();
    assert!(log.contains(" stdout F hello world\n"), "{log}");
    assert!(log.contains(" stderr F oops\n"), "{log}");
    assert!(log.contains(" stdout F /tmp\n"), "{log}");

    let ok = rt.create_container(&sid, &container("ok", &["true"]), &sandbox).await.unwrap();
    rt.start_container(&ok).await.unwrap();
    let done = wait_state(rt, &ok, ContainerState::Exited).await;
    assert_eq!((done.exit_code, done.reason.as_str()), (0, "Completed"));

    let by_label = rt
        .list_containers(&ContainerFilter {
            label_selector: BTreeMap::from([("orch.io/container".to_string(), "main".to_string())]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_label.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [cid.as_str()]);

    rt.remove_container(&cid).await.unwrap();
    rt.remove_container(&cid).await.unwrap(); // idempotent
    assert!(matches!(rt.container_status(&cid).await, Err(orch_runtime::Error::NotFound { .. })));
    let logs = rt.log_directory(&sandbox);
    assert!(logs.is_dir());
    rt.stop_pod_sandbox(&sid).await.unwrap();
    assert_eq!(rt.pod_sandbox_status(&sid).await.unwrap().state, PodSandboxState::NotReady);
    rt.remove_pod_sandbox(&sid).await.unwrap();
    rt.remove_pod_sandbox(&sid).await.unwrap(); // idempotent
    assert!(rt.list_pod_sandbox(&PodSandboxFilter::default()).await.unwrap().is_empty());
    assert!(rt.list_containers(&ContainerFilter::default()).await.unwrap().is_empty());
    assert!(!logs.exists(), "the pod's log directory goes with its sandbox");
    drop(n.containerd);
}

/// Exits 0 on SIGTERM, once it has logged `trapped`.
const STOPS_ON_TERM: &str = "trap 'exit 0' TERM; echo trapped; sleep 300 & wait";

/// Waits until the container's log has a line ending in `text` (say, that
/// its shell has installed a signal trap).
async fn wait_logged(rt: &CriRuntime, id: &str, text: &str) {
    let log_path = rt.container_status(id).await.unwrap().log_path;
    let start = Instant::now();
    while !std::fs::read_to_string(&log_path)
        .is_ok_and(|log| log.lines().any(|l| l.ends_with(&format!(" {text}"))))
    {
        assert!(start.elapsed() < DEADLINE, "container {id} never logged {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn running(n: &Node, pod: &str, cfg: ContainerConfig) -> (String, String) {
    let sandbox = sandbox_config(pod);
    let sid = n.rt.run_pod_sandbox(&sandbox).await.unwrap();
    let cid = n.rt.create_container(&sid, &cfg, &sandbox).await.unwrap();
    n.rt.start_container(&cid).await.unwrap();
    wait_state(&n.rt, &cid, ContainerState::Running).await;
    (sid, cid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sync_runs_in_the_container_with_its_exit_code() {
    let n = node().await;
    let (_, cid) = running(&n, "exec", container("main", &["sh", "-c", STOPS_ON_TERM])).await;
    let cmd: Vec<String> =
        ["sh", "-c", "echo out; echo err >&2; cat /etc/hostname 2>/dev/null; exit 7"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    let r = n.rt.exec_sync(&cid, &cmd, Duration::from_secs(10)).await.unwrap();
    assert_eq!(r.exit_code, 7);
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("out\n"), "{r:?}");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
    // The container's own filesystem: the image's /var/www, not the host's.
    let r = n
        .rt
        .exec_sync(&cid, &["cat".into(), "/var/www/index.html".into()], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((r.exit_code, String::from_utf8_lossy(&r.stdout).as_ref()), (0, "orch busybox\n"));
    let missing = n.rt.exec_sync("no-such-container", &cmd, Duration::from_secs(5)).await;
    assert!(matches!(missing, Err(orch_runtime::Error::NotFound { .. })), "{missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_sigterm_then_sigkill_after_the_grace_period() {
    let n = node().await;
    // Stops on SIGTERM: exits 0 from its trap, well within the grace period.
    let (sid, polite) =
        running(&n, "stop", container("polite", &["sh", "-c", STOPS_ON_TERM])).await;
    wait_logged(&n.rt, &polite, "trapped").await;
    n.rt.stop_container(&polite, Duration::from_secs(20)).await.unwrap();
    let s = n.rt.container_status(&polite).await.unwrap();
    assert_eq!((s.state, s.exit_code), (ContainerState::Exited, 0), "{s:?}");
    // Ignores SIGTERM: killed once the grace period is over.
    let sandbox = sandbox_config("stop");
    let ignores_term = "trap '' TERM; echo trapped; while true; do sleep 1; done";
    let cfg = container("stubborn", &["sh", "-c", ignores_term]);
    let stubborn = n.rt.create_container(&sid, &cfg, &sandbox).await.unwrap();
    n.rt.start_container(&stubborn).await.unwrap();
    wait_logged(&n.rt, &stubborn, "trapped").await;
    n.rt.stop_container(&stubborn, Duration::from_secs(1)).await.unwrap();
    let s = n.rt.container_status(&stubborn).await.unwrap();
    assert_eq!((s.state, s.exit_code), (ContainerState::Exited, 137), "{s:?}");
    n.rt.stop_container(&stubborn, Duration::from_secs(1)).await.unwrap(); // idempotent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_and_cpu_quota_are_in_the_containers_cgroup() {
    let n = node().await;
    let mut cfg = container("limited", &["sh", "-c", STOPS_ON_TERM]);
    cfg.resources = LinuxContainerResources {
        cpu_shares: 256,
        cpu_quota: 50_000,
        cpu_period: 100_000,
        memory_limit_in_bytes: 64 * 1024 * 1024,
    };
    let (_, cid) = running(&n, "limits", cfg).await;
    let (memory, quota, period, shares) = support::cgroup_limits(&n.rt, &cid).await;
    assert_eq!((memory.as_str(), quota.as_str(), period.as_str()), ("67108864", "50000", "100000"));
    assert!(shares.as_deref().is_none_or(|s| s == "256"), "{shares:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_while_containerd_is_down_and_work_again_after_it_restarts() {
    let mut n = node().await;
    let (_, cid) = running(&n, "restart", container("main", &["sh", "-c", STOPS_ON_TERM])).await;
    n.containerd.stop();
    match n.rt.version().await {
        Err(orch_runtime::Error::Cri { code, call, .. }) => {
            assert_eq!(call, "Version");
            assert!(code == "Unavailable" || code == "Unknown", "code {code}");
        }
        other => panic!("a call to a stopped containerd answered: {other:?}"),
    }
    n.containerd.restart().unwrap();
    let start = Instant::now();
    while n.rt.version().await.is_err() {
        assert!(start.elapsed() < DEADLINE, "no reconnect after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The container kept running across the restart.
    assert_eq!(n.rt.container_status(&cid).await.unwrap().state, ContainerState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_that_never_answers_hits_the_call_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("silent.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    // Accepts connections and never speaks.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let rt = CriRuntime::connect_lazy(
        CriRuntimeConfig::new(&socket).call_timeout(Duration::from_millis(300)),
    );
    match rt.list_containers(&ContainerFilter::default()).await {
        Err(orch_runtime::Error::Cri { call, code, message, .. }) => {
            assert_eq!(call, "ListContainers");
            assert_eq!(code, "DeadlineExceeded", "{message}");
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
    held.abort();
}

/// PullImage from a registry on loopback (docker-registry, htpasswd login,
/// plain HTTP): refused without credentials or with a wrong password,
/// pulled with the right ones, then present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_pulled_from_a_registry_with_credentials() {
    use orch_runtime::testing::BusyboxImage;
    let dir = tempfile::Builder::new().prefix("orch-cri-pull-").tempdir().unwrap();
    let registry =
        support::registry::Registry::start(&dir.path().join("registry"), "orch", "s3cret");
    let mut config = ContainerdProcessConfig::new(dir.path().join("c"));
    config.plain_http_registries = vec![registry.host.clone()];
    let containerd = ContainerdProcess::start_with_busybox_images(config)
        .unwrap_or_else(|e| panic!("containerd did not start with its images: {e}"));
    let tarball = dir.path().join("busybox.tar");
    BusyboxImage::new(BUSYBOX_IMAGE).write_tarball(&tarball).unwrap();
    let reference = format!("{}/orch/busybox:1", registry.host);
    containerd.push_image(&tarball, BUSYBOX_IMAGE, &reference, Some(("orch", "s3cret"))).unwrap();
    let rt = CriRuntime::connect(containerd.runtime_config()).await.unwrap();

    let spec = ImageSpec { image: reference.clone() };
    assert!(rt.image_status(&spec).await.unwrap().is_none(), "not pulled yet");
    let refused = rt.pull_image(&spec, None).await;
    assert!(matches!(refused, Err(orch_runtime::Error::Cri { .. })), "{refused:?}");
    let auth = |password: &str| AuthConfig {
        username: "orch".into(),
        password: password.into(),
        server_address: registry.host.clone(),
    };
    let wrong = rt.pull_image(&spec, Some(&auth("wrong"))).await;
    assert!(matches!(wrong, Err(orch_runtime::Error::Cri { .. })), "{wrong:?}");
    let pulled = rt.pull_image(&spec, Some(&auth("s3cret"))).await.unwrap();
    assert!(pulled.starts_with("sha256:"), "{pulled}");
    let image = rt.image_status(&spec).await.unwrap().expect("present after the pull");
    assert!(image.repo_tags.contains(&reference), "{image:?}");
}

/// Host PIDs of the live (not zombie) processes in a container's cgroup.
fn processes_in_cgroup_of(id: &str) -> Vec<i32> {
    let suffix = format!("/k8s.io/{id}");
    let live = |pid: &i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.starts_with(" Z")))
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.ends_with(&suffix)))
        })
        .filter(live)
        .collect()
}

/// Dropping a ContainerdProcess kills its containers' processes, and only
/// those: a stale `init.pid` (a task that exited, its PID since reused by
/// another process) must not get that other process killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_kills_its_containers_and_nothing_a_stale_pid_names() {
    let n = node().await;
    let sandbox = sandbox_config("cleanup");
    let sid = n.rt.run_pod_sandbox(&sandbox).await.unwrap();
    let sleeper = container("main", &["sleep", "3600"]);
    let cid = n.rt.create_container(&sid, &sleeper, &sandbox).await.unwrap();
    n.rt.start_container(&cid).await.unwrap();
    wait_state(&n.rt, &cid, ContainerState::Running).await;
    let in_container = processes_in_cgroup_of(&cid);
    assert!(!in_container.is_empty(), "no process found in {cid}'s cgroup");

    // A task directory whose init.pid names a process outside containerd.
    let mut bystander = std::process::Command::new("sleep").arg("3600").spawn().unwrap();
    // (`ContainerdProcessConfig::new(dir/c)` keeps containerd's state in `dir/c/state`.)
    let stale = n._dir.path().join("c/state/io.containerd.runtime.v2.task/k8s.io/stale-task");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("init.pid"), bystander.id().to_string()).unwrap();

    drop(n);
    let start = Instant::now();
    while !processes_in_cgroup_of(&cid).is_empty() {
        assert!(start.elapsed() < DEADLINE, "the container's processes outlived containerd");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(bystander.try_wait().unwrap().is_none(), "the bystander named by a stale PID died");
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}
