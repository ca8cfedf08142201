//! CriRuntime against a real containerd: each test starts its own
//! (`ContainerdProcess`: private config, root, state and socket in a temp
//! dir), imports the pause and busybox images built from the host's static
//! busybox, and cleans everything up on drop. If containerd cannot start,
//! the test fails and says why.
#![cfg(feature = "cri")]

use std::collections::BTreeMap;
use std::time::Duration;

use orch_core::testing::wait_until;
use orch_runtime::conformance::{wait_state, DEADLINE, STOPS_ON_TERM};
use orch_runtime::cri::{CriRuntime, CriRuntimeConfig};
use orch_runtime::runtime::*;
use orch_runtime::testing::{ContainerdProcess, ContainerdProcessConfig, BUSYBOX_IMAGE};

mod support;

use support::sandbox_config;

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

mod conformance {
    orch_runtime::runtime_conformance_tests!(async {
        let n = super::node().await;
        orch_runtime::conformance::Subject::new(
            n.rt.clone(),
            orch_runtime::runtime::ImageSpec { image: super::BUSYBOX_IMAGE.into() },
            (n.containerd, n._dir),
        )
    });
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

async fn running(n: &Node, pod: &str, cfg: ContainerConfig) -> (String, String) {
    let sandbox = sandbox_config(pod);
    let sid = n.rt.run_pod_sandbox(&sandbox).await.unwrap();
    let cid = n.rt.create_container(&sid, &cfg, &sandbox).await.unwrap();
    n.rt.start_container(&cid).await.unwrap();
    wait_state(&n.rt, &cid, ContainerState::Running).await;
    (sid, cid)
}

/// What is containerd's own beyond the conformance suite: its version,
/// image status, a sandbox on the node's network (no CNI), and the pod's
/// log directory removed with its sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_images_host_network_and_log_directory() {
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
    assert_eq!(status.ip, "", "no CNI config: the sandbox shares the node's network");
    let logs = rt.log_directory(&sandbox);
    assert!(logs.is_dir());
    rt.remove_pod_sandbox(&sid).await.unwrap();
    assert!(!logs.exists(), "the pod's log directory goes with its sandbox");
}

/// ExecSync sees the container's own filesystem: the image's /var/www, not
/// the host's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sync_sees_the_images_filesystem() {
    let n = node().await;
    let (_, cid) = running(&n, "exec", container("main", &["sh", "-c", STOPS_ON_TERM])).await;
    let r = n
        .rt
        .exec_sync(&cid, &["cat".into(), "/var/www/index.html".into()], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((r.exit_code, String::from_utf8_lossy(&r.stdout).as_ref()), (0, "orch busybox\n"));
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
    wait_until("a reconnect after the restart", DEADLINE, || async {
        n.rt.version().await.is_ok()
    })
    .await;
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
    wait_until("the container's processes to die with containerd", DEADLINE, || async {
        processes_in_cgroup_of(&cid).is_empty()
    })
    .await;
    assert!(bystander.try_wait().unwrap().is_none(), "the bystander named by a stale PID died");
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

/// A CRI `Mount` is a bind mount: the container reads the host directory's
/// file at the container path, sees a change of it at once, and cannot
/// write to a read-only one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounts_bind_host_directories_into_the_container() {
    let n = node().await;
    let host = n._dir.path().join("volume");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("greeting"), "hello from the host\n").unwrap();
    let mut cfg = container("main", &["sh", "-c", STOPS_ON_TERM]);
    cfg.mounts = vec![Mount {
        container_path: "/etc/config".into(),
        host_path: host.display().to_string(),
        readonly: true,
    }];
    let (_, cid) = running(&n, "mounts", cfg).await;
    let sh = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let timeout = Duration::from_secs(10);
    let r = n.rt.exec_sync(&cid, &sh("cat /etc/config/greeting"), timeout).await.unwrap();
    assert_eq!(
        (r.exit_code, String::from_utf8_lossy(&r.stdout).as_ref()),
        (0, "hello from the host\n")
    );
    std::fs::write(host.join("greeting"), "changed\n").unwrap();
    let r = n.rt.exec_sync(&cid, &sh("cat /etc/config/greeting"), timeout).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), "changed\n");
    let r = n.rt.exec_sync(&cid, &sh("echo x > /etc/config/new"), timeout).await.unwrap();
    assert_ne!(r.exit_code, 0, "a read-only mount refuses writes");
    assert!(!host.join("new").exists());
}
