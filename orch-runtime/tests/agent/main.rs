//! The node agent with real containers: on the process runtime (real
//! processes), and — with feature `cri` — the same scenarios on CriRuntime
//! against a real containerd (each case starts its own, see `cri_runtime.rs`).
//! Cases written once for both run as `case::process` and `case::cri`.
//!
//! This file holds the node fixture ([`Node1`]) and the pod builders; the
//! cases are in the modules below, by topic.

use std::sync::Arc;
use std::time::Duration;

use orch_core::api::{DeleteParams, ListParams};
use orch_core::kinds::pod::{
    Container, ContainerPort, EnvVar, HttpGetAction, PodPhase, PodSpec, Probe,
};
use orch_core::testing::{wait_for, wait_until};
use orch_core::{Api, IntOrString, ObjectMeta, Pod};
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_runtime::runtime::{ContainerFilter, ContainerState, PodSandboxFilter, Runtime};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

#[path = "../support/mod.rs"]
mod support;

const DEADLINE: Duration = Duration::from_secs(30);
const WEB: &str = env!("CARGO_BIN_EXE_orch-web");

/// What runs the containers.
enum Backend {
    Process(ProcessRuntime),
    /// The containerd, held until the node is dropped.
    #[cfg(feature = "cri")]
    Cri {
        containerd: orch_runtime::testing::ContainerdProcess,
    },
}

struct Node1 {
    store: Arc<MemStore>,
    runtime: Arc<dyn Runtime>,
    backend: Backend,
    stop: CancellationToken,
    agent: Option<tokio::task::JoinHandle<orch_runtime::Result<()>>>,
    config: NodeAgentConfig,
    _dir: tempfile::TempDir,
}

fn agent_config() -> NodeAgentConfig {
    let mut c = NodeAgentConfig::new("node-1").label("topology.kubernetes.io/zone", "zone-a");
    c.resync_interval = Duration::from_millis(50);
    c.renew_interval = Duration::from_millis(200);
    c.backoff_initial = Duration::from_millis(200);
    c.backoff_max = Duration::from_millis(800);
    c.volume_resync_interval = Duration::from_millis(50);
    c
}

impl Node1 {
    /// A node on the process runtime.
    async fn start() -> Node1 {
        let dir = tempfile::tempdir().unwrap();
        let runtime = new_runtime(dir.path());
        Self::with(Arc::new(runtime.clone()), Backend::Process(runtime), dir, agent_config())
    }

    /// A node on CriRuntime and a containerd of its own.
    #[cfg(feature = "cri")]
    async fn start_cri() -> Node1 {
        Self::start_cri_with(&[], Vec::new()).await
    }

    /// A node on CriRuntime whose containerd reaches these registries over
    /// plain HTTP, and whose agent has these registry credentials.
    #[cfg(feature = "cri")]
    async fn start_cri_with(
        registries: &[String],
        credentials: Vec<orch_runtime::runtime::AuthConfig>,
    ) -> Node1 {
        use orch_runtime::cri::CriRuntime;
        use orch_runtime::testing::{ContainerdProcess, ContainerdProcessConfig};
        let dir = tempfile::Builder::new().prefix("orch-cri-agent-").tempdir().unwrap();
        let mut config = ContainerdProcessConfig::new(dir.path().join("containerd"));
        config.plain_http_registries = registries.to_vec();
        let containerd = ContainerdProcess::start_with_busybox_images(config)
            .unwrap_or_else(|e| panic!("containerd did not start with its images: {e}"));
        let config = containerd.runtime_config().call_timeout(Duration::from_secs(30));
        let rt = CriRuntime::connect(config).await.unwrap();
        let config = NodeAgentConfig { registry_credentials: credentials, ..agent_config() };
        Self::with(Arc::new(rt), Backend::Cri { containerd }, dir, config)
    }

    fn with(
        runtime: Arc<dyn Runtime>,
        backend: Backend,
        dir: tempfile::TempDir,
        mut config: NodeAgentConfig,
    ) -> Node1 {
        config.root_dir = dir.path().join("agent");
        let mut n = Node1 {
            store: Arc::new(MemStore::new()),
            runtime,
            backend,
            stop: CancellationToken::new(),
            agent: None,
            config,
            _dir: dir,
        };
        n.spawn_agent();
        n
    }

    fn spawn_agent(&mut self) {
        self.stop = CancellationToken::new();
        let agent = NodeAgent::new(self.store.clone(), self.runtime.clone(), self.config.clone());
        self.agent = Some(tokio::spawn(agent.run(self.stop.clone())));
    }

    async fn stop_agent(&mut self) {
        self.stop.cancel();
        if let Some(a) = self.agent.take() {
            a.await.unwrap().unwrap();
        }
    }

    /// A container running `script` with `sh -c`: on the process runtime
    /// the host's sh, on CRI the busybox image (present, never pulled).
    fn sh(&self, name: &str, script: &str) -> Container {
        let c = sh(name, script);
        match self.backend {
            Backend::Process(_) => c,
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => Container {
                image: orch_runtime::testing::BUSYBOX_IMAGE.into(),
                image_pull_policy: Some("IfNotPresent".into()),
                ..c
            },
        }
    }

    /// A path for a scratch file the container itself writes (the host's
    /// temp dir for processes, the container's /tmp on CRI).
    fn scratch(&self, name: &str) -> String {
        match &self.backend {
            Backend::Process(_) => self._dir.path().join(name).display().to_string(),
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => format!("/tmp/{name}"),
        }
    }

    /// IDs of the running containers, from the runtime.
    async fn running_containers(&self) -> Vec<String> {
        let filter = ContainerFilter { state: Some(ContainerState::Running), ..Default::default() };
        let mut ids: Vec<String> = self
            .runtime
            .list_containers(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }

    /// The messages of the Events with this reason, as "pod: message".
    async fn event_messages(&self, reason: &str) -> Vec<String> {
        let events: Api<orch_core::Event> = Api::namespaced(self.store.clone(), "default");
        let params = ListParams::default().fields(&format!("reason={reason}"));
        let list = events.list(&params).await.unwrap();
        let message = |e: &orch_core::Event| e.message.clone().unwrap_or_default();
        list.items.iter().map(|e| format!("{}: {}", e.involved_object.name, message(e))).collect()
    }

    /// Every container in the runtime, one line each: id, pod, attempt,
    /// state, exit code and reason (for assertion messages).
    async fn describe_containers(&self) -> String {
        let mut lines = Vec::new();
        for c in self.runtime.list_containers(&ContainerFilter::default()).await.unwrap() {
            let s = self.runtime.container_status(&c.id).await.unwrap();
            let pod = s.labels.get(orch_runtime::agent::LABEL_POD_NAME);
            lines.push(format!(
                "{} pod {pod:?} attempt {} {:?} exit {} {} {}",
                s.id, s.metadata.attempt, s.state, s.exit_code, s.reason, s.message
            ));
        }
        lines.join("\n")
    }

    /// Replaces the runtime client, as an agent restart does (same state).
    fn reconnect_runtime(&mut self) {
        match self.backend {
            Backend::Process(_) => {
                let rt = new_runtime(self._dir.path());
                self.runtime = Arc::new(rt.clone());
                self.backend = Backend::Process(rt);
            }
            // The CRI client reconnects by itself; containerd keeps running.
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => {}
        }
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.store.clone(), "default")
    }

    async fn pod(&self, name: &str) -> Pod {
        self.pods().get(name).await.unwrap()
    }

    /// Waits until pod `name` is Running and Ready.
    async fn running_and_ready(&self, name: &str) {
        wait_until(format!("{name} Running and Ready"), DEADLINE, || async {
            let p = self.pod(name).await;
            p.status.as_ref().and_then(|s| s.phase) == Some(PodPhase::Running)
                && condition(&p, "Ready").as_deref() == Some("True")
        })
        .await;
    }

    /// Deletes every pod and checks that the runtime has nothing left: no
    /// sandbox, no container (and, on the process runtime, no process).
    async fn delete_all_and_check_no_leftovers(mut self) {
        let pids = match &self.backend {
            Backend::Process(rt) => rt.running_pids(),
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => Vec::new(),
        };
        for p in self.pods().list(&ListParams::default()).await.unwrap().items {
            self.pods().delete(&p.metadata.name, &DeleteParams::default()).await.unwrap();
        }
        wait_until("every pod removed", DEADLINE, || async {
            self.pods().list(&ListParams::default()).await.unwrap().items.is_empty()
        })
        .await;
        // A terminal pod's object goes at once (grace 0, as Kubernetes); its
        // worker tears the sandbox down after that.
        wait_until("no sandbox and no container left in the runtime", DEADLINE, || async {
            let rt = &self.runtime;
            rt.list_pod_sandbox(&PodSandboxFilter::default()).await.unwrap().is_empty()
                && rt.list_containers(&ContainerFilter::default()).await.unwrap().is_empty()
        })
        .await;
        self.stop_agent().await;
        wait_for("every process of the node to exit", DEADLINE, || {
            let left: Vec<_> = pids
                .iter()
                .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                .collect();
            std::future::ready(if left.is_empty() {
                Ok(())
            } else {
                Err(format!("processes left behind: {left:?}"))
            })
        })
        .await;
    }
}

/// A test that fails before [`Node1::delete_all_and_check_no_leftovers`]
/// must not leave its containers running: on the process runtime they would
/// keep their ports, and a later run of the test could not bind them.
/// (A CRI node's containerd kills its own on drop.)
impl Drop for Node1 {
    fn drop(&mut self) {
        // Without feature `cri` the process runtime is the only backend.
        #[allow(irrefutable_let_patterns)]
        if let Backend::Process(rt) = &self.backend {
            for pid in rt.running_pids() {
                let group = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// One case on both runtimes: `name::process`, and `name::cri` with
/// feature `cri`. `body` (in the module the macro is used in) takes the
/// started node.
macro_rules! on_both_runtimes {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn process() {
                super::$body($crate::Node1::start().await).await
            }
            #[cfg(feature = "cri")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cri() {
                super::$body($crate::Node1::start_cri().await).await
            }
        }
    };
}

/// Cases only CriRuntime runs (a busybox httpd, image pulls, cgroups).
#[cfg(feature = "cri")]
mod cri;
/// Lifecycle hooks: postStart and preStop.
mod hooks;
/// A pod's life: start, env, restarts and their backoff, deletion.
mod lifecycle;
/// Container logs as kubectl logs reads them.
mod logs;
/// The kubelet metrics.
mod metrics;
/// Liveness and readiness probes, httpGet and exec.
mod probes;
/// The Node object and its lease.
mod registration;
/// Agent restarts: adopting running containers, removing orphans.
mod restarts;
/// configMap, secret and emptyDir volumes, updated in place.
mod volumes;

fn new_runtime(root: &std::path::Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessRuntimeConfig::new(root).image("web:1", &[WEB])).unwrap()
}

fn bound_pod(name: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name),
        spec: PodSpec {
            containers,
            node_name: Some("node-1".into()),
            termination_grace_period_seconds: Some(5),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn web(port: i32) -> Container {
    Container {
        name: "web".into(),
        image: "web:1".into(),
        ports: vec![ContainerPort {
            container_port: port,
            name: Some("http".into()),
            ..Default::default()
        }],
        env: vec![EnvVar { name: "PORT".into(), value: Some(port.to_string()), value_from: None }],
        ..Default::default()
    }
}

/// An httpGet probe of [`web`]'s `/healthz` on its `http` port, every second.
fn healthz_probe() -> Probe {
    Probe {
        http_get: Some(HttpGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(1),
        ..Default::default()
    }
}

fn sh(name: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        image: "sh".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        ..Default::default()
    }
}

fn condition(p: &Pod, type_: &str) -> Option<String> {
    p.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.status.clone())
}
