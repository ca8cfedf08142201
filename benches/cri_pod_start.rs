//! Pod start latency on a real containerd: through the node agent on
//! CriRuntime (pod bound → status Running, seen on a watch) beside the same
//! sequence of CRI calls made directly with the generated client
//! (RunPodSandbox, PodSandboxStatus, ImageStatus, CreateContainer,
//! StartContainer, ContainerStatus). 50 pods each, one at a time,
//! alternating, so both see the same machine and the same containerd load;
//! three such rounds (everything removed between them), and the median of
//! the rounds' figures, as a single slow sample decides a p99 of 50.
//! The overhead is orch's: the agent's watch, its worker, its Events and
//! status write, and CriRuntime.
//!
//! `cargo bench -p orch-benches --features cri --bench cri_pod_start`
//! (as root, with containerd, runc and busybox-static installed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use orch_benches::{block_on_two_workers, bound_pod, percentile, report, time_pod_start};
use orch_core::api::{WatchEvent, WatchParams};
use orch_core::kinds::pod::Container;
use orch_core::{Api, Pod};
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::cri::CriRuntime;
use orch_runtime::testing::{ContainerdProcess, ContainerdProcessConfig, BUSYBOX_IMAGE};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint, Uri};

const PODS: usize = 50;
const ROUNDS: usize = 3;

/// One round's (p50, p99) in µs: through the agent, then raw.
type Round = [(u64, u64); 2];
const SCRIPT: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

fn pod(name: &str) -> Pod {
    let container = Container {
        name: "main".into(),
        image: BUSYBOX_IMAGE.into(),
        image_pull_policy: Some("IfNotPresent".into()),
        command: vec!["sh".into(), "-c".into(), SCRIPT.into()],
        ..Default::default()
    };
    bound_pod(name, container)
}

/// The generated CRI clients on the socket, no orch code in between.
async fn raw_clients(
    socket: std::path::PathBuf,
) -> (RuntimeServiceClient<Channel>, ImageServiceClient<Channel>) {
    let channel = Endpoint::try_from("http://[::1]:0")
        .expect("endpoint")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
        .expect("connect");
    (RuntimeServiceClient::new(channel.clone()), ImageServiceClient::new(channel))
}

/// One pod started with raw CRI calls; returns when its container runs.
async fn raw_pod_start(
    rt: &mut RuntimeServiceClient<Channel>,
    images: &mut ImageServiceClient<Channel>,
    logs: &std::path::Path,
    i: usize,
) {
    let name = format!("raw-{i:02}");
    let log_directory = logs.join(&name);
    std::fs::create_dir_all(log_directory.join("main")).expect("log dir");
    let sandbox = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.clone(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: log_directory.display().to_string(),
        labels: HashMap::from([("bench".to_string(), "raw".to_string())]),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Node as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(sandbox.clone()),
            runtime_handler: String::new(),
        })
        .await
        .expect("RunPodSandbox")
        .into_inner()
        .pod_sandbox_id;
    rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
        pod_sandbox_id: id.clone(),
        verbose: false,
    })
    .await
    .expect("PodSandboxStatus");
    let image = cri::ImageSpec { image: BUSYBOX_IMAGE.into(), ..Default::default() };
    images
        .image_status(cri::ImageStatusRequest { image: Some(image.clone()), verbose: false })
        .await
        .expect("ImageStatus");
    let container = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: "main".into(), attempt: 0 }),
        image: Some(image),
        command: vec!["sh".into(), "-c".into(), SCRIPT.into()],
        log_path: "main/0.log".into(),
        labels: HashMap::from([("bench".to_string(), "raw".to_string())]),
        ..Default::default()
    };
    let cid = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: id,
            config: Some(container),
            sandbox_config: Some(sandbox),
        })
        .await
        .expect("CreateContainer")
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest { container_id: cid.clone() })
        .await
        .expect("StartContainer");
    let status = rt
        .container_status(cri::ContainerStatusRequest { container_id: cid, verbose: false })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a status");
    assert_eq!(status.state, cri::ContainerState::ContainerRunning as i32, "raw pod {name}");
}

/// Deletes the agent's pods (waiting until they are gone) and removes the
/// raw sandboxes, so the next round starts on an empty containerd.
async fn remove_everything(
    pods: &Api<Pod>,
    watch: &mut (impl futures::Stream<Item = orch_core::Result<WatchEvent<Pod>>> + Unpin),
    raw: &mut RuntimeServiceClient<Channel>,
) {
    let list = pods.list(&Default::default()).await.expect("list");
    let mut left = list.items.len();
    for p in list.items {
        pods.delete(&p.metadata.name, &Default::default()).await.expect("delete");
    }
    while left > 0 {
        match tokio::time::timeout(Duration::from_secs(60), watch.next()).await {
            Ok(Some(Ok(WatchEvent::Deleted(_)))) => left -= 1,
            Ok(Some(Ok(_))) => {}
            other => panic!("pods were not removed: {other:?}"),
        }
    }
    let filter = cri::PodSandboxFilter {
        label_selector: HashMap::from([("bench".to_string(), "raw".to_string())]),
        ..Default::default()
    };
    let sandboxes = raw
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: Some(filter) })
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    for s in sandboxes {
        let id = s.id;
        raw.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id.clone() })
            .await
            .expect("StopPodSandbox");
        raw.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
            .expect("RemovePodSandbox");
    }
}

async fn run() {
    let dir = tempfile::Builder::new().prefix("orch-cri-bench-").tempdir().expect("tempdir");
    let config = ContainerdProcessConfig::new(dir.path().join("containerd"));
    let containerd = ContainerdProcess::start_with_busybox_images(config)
        .unwrap_or_else(|e| panic!("containerd did not start with its images: {e}"));

    let store = Arc::new(MemStore::new());
    let runtime = CriRuntime::connect(containerd.runtime_config()).await.expect("CriRuntime");
    let stop = CancellationToken::new();
    let agent = NodeAgent::new(store.clone(), Arc::new(runtime), NodeAgentConfig::new("node-1"));
    let running_agent = tokio::spawn(agent.run(stop.clone()));
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let mut watch = pods.watch(&WatchParams::default(), "").await.expect("watch");
    let (mut raw_rt, mut raw_images) = raw_clients(containerd.socket()).await;
    let raw_logs = dir.path().join("raw-logs");

    // (p50, p99) of each round, through the agent and raw, in µs.
    let mut figures: Vec<Round> = Vec::new();
    for round in 0..ROUNDS {
        let (mut through_agent, mut raw) = (Vec::new(), Vec::new());
        for i in 0..PODS {
            let t = Instant::now();
            raw_pod_start(&mut raw_rt, &mut raw_images, &raw_logs, i).await;
            raw.push(t.elapsed().as_micros() as u64);

            let name = format!("agent-{round}-{i:02}");
            let started =
                time_pod_start(&pods, &mut watch, &pod(&name), Duration::from_secs(60)).await;
            through_agent.push(started);
        }
        through_agent.sort_unstable();
        raw.sort_unstable();
        let p = |v: &[u64]| (percentile(v, 50.0), percentile(v, 99.0));
        figures.push([p(&through_agent), p(&raw)]);
        println!(
            "round {}: through the agent p50 {:.1} ms p99 {:.1} ms; raw p50 {:.1} ms p99 {:.1} ms",
            round + 1,
            figures[round][0].0 as f64 / 1000.0,
            figures[round][0].1 as f64 / 1000.0,
            figures[round][1].0 as f64 / 1000.0,
            figures[round][1].1 as f64 / 1000.0,
        );
        remove_everything(&pods, &mut watch, &mut raw_rt).await;
    }
    let median = |pick: &dyn Fn(&Round) -> u64| {
        let mut v: Vec<u64> = figures.iter().map(pick).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let ms = |v: u64| v as f64 / 1000.0;
    for (label, p99) in [("p50", false), ("p99", true)] {
        let pick = |side: usize| move |f: &Round| if p99 { f[side].1 } else { f[side].0 };
        let (a, r) = (median(&pick(0)), median(&pick(1)));
        report(
            &format!(
                "pod start through the agent on CRI, {label} ({PODS} pods, median of {ROUNDS})"
            ),
            ms(a),
            "ms",
            None,
        );
        report(&format!("the same CRI calls made directly, {label}"), ms(r), "ms", None);
        report(
            &format!("orch's overhead, {label} (agent / raw - 1)"),
            (a as f64 / r as f64 - 1.0) * 100.0,
            "%",
            Some((10.0, false)),
        );
    }
    stop.cancel();
    let _ = running_agent.await;
    drop(containerd);
}

fn main() {
    block_on_two_workers(run());
}
