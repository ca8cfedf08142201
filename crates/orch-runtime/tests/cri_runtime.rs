//! CriRuntime against a real containerd: each test starts its own
//! (`ContainerdProcess`: private config, root, state and socket in a temp
//! dir), imports the pause and busybox images built from the host's static
//! busybox, and cleans everything up on drop. If containerd cannot start,
//! the test fails and says why.
#![cfg(feature = "cri")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use orch_runtime::cri::{
    ContainerdProcess, ContainerdProcessConfig, CriRuntime, CriRuntimeConfig, BUSYBOX_IMAGE,
};
use orch_runtime::runtime::*;

const DEADLINE: Duration = Duration::from_secs(30);

struct Node {
    containerd: ContainerdProcess,
    rt: CriRuntime,
    _dir: tempfile::TempDir,
}

async fn node() -> Node {
    let dir = tempfile::Builder::new().prefix("orch-cri-").tempdir().unwrap();
    let containerd = ContainerdProcess::start(ContainerdProcessConfig::new(dir.path().join("c")))
        .unwrap_or_else(|e| panic!("containerd did not start: {e}"));
    containerd.import_busybox_images().unwrap_or_else(|e| panic!("image import failed: {e}"));
    let config = CriRuntimeConfig::new(containerd.socket())
        .pod_logs_root(containerd.pod_logs_dir())
        .cni_conf_dir(containerd.cni_conf_dir())
        .call_timeout(Duration::from_secs(30));
    let rt = CriRuntime::connect(config).await.unwrap();
    Node { containerd, rt, _dir: dir }
}

fn sandbox_config(name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        },
        hostname: name.into(),
        labels: BTreeMap::from([("orch.io/pod".to_string(), name.to_string())]),
        ..Default::default()
    }
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
    assert!(done.started_at > 0 && done.finished_at >= done.started_at);
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
