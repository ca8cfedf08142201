//! The node agent — kubelet's job: register the Node, renew its Lease, and
//! turn the Pods bound to it into running containers through a
//! [`Runtime`], reporting their status truthfully.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn orch_core::store::Store>) -> orch_runtime::Result<()> {
//! use std::sync::Arc;
//! use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
//! use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
//!
//! let runtime = Arc::new(ProcessRuntime::new(ProcessRuntimeConfig::new("/var/lib/orch/node-1"))?);
//! let agent = NodeAgent::new(store, runtime, NodeAgentConfig::new("node-1"));
//! agent.run(tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```
//!
//! * One worker per Pod syncs sandbox, init containers, containers; restarts
//!   per `restartPolicy` with CrashLoopBackOff (the first restart at once,
//!   then 10 s doubling to 300 s; reset after 10 minutes of clean running —
//!   all configurable); runs probes; writes status only when it changes.
//! * Volumes: `configMap` and `secret` volumes are written under
//!   [`NodeAgentConfig::root_dir`] before the containers start and kept up
//!   to date in place when the object changes; see `volumes/`.
//! * Graceful deletion: on `deletionTimestamp` the containers get SIGTERM,
//!   then SIGKILL after the grace period; then the Pod object is removed.
//! * Stopping the agent leaves containers running; a new agent adopts them
//!   through their labels and never starts them twice.

mod actions;
mod env;
pub mod images;
pub mod logs;
mod metrics;
mod pod_status;
mod probes;
mod volumes;
mod worker;

pub use metrics::NodeAgentMetrics;
pub use probes::{ProbeKind, ProbeTracker};
pub use worker::{
    LABEL_CONTAINER_NAME, LABEL_NODE_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID,
};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orch_core::condition::{find_condition, set_condition};
use orch_core::controller::{watcher, WatcherConfig, WatcherEvent};
use orch_core::kinds::lease::{Lease, LeaseSpec};
use orch_core::kinds::node::{NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo, Taint};
use orch_core::store::Store;
use orch_core::{Api, MicroTime, Node, ObjectMeta, Pod, Quantity, Time};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::runtime::{PodSandboxFilter, Runtime};
use crate::Result;
use worker::{Update, Worker};

/// The namespace of node Leases (as Kubernetes').
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Settings of a [`NodeAgent`].
#[derive(Clone, Debug)]
pub struct NodeAgentConfig {
    /// The Node's name.
    pub node_name: String,
    /// Labels on the Node (`kubernetes.io/hostname` is added).
    pub labels: BTreeMap<String, String>,
    /// Taints the Node registers with (kubelet's `--register-with-taints`):
    /// added when missing; taints others set are kept.
    pub taints: Vec<Taint>,
    /// Capacity; default from the machine (cpu in millicores, memory in
    /// bytes) and 110 pods.
    pub capacity: Option<BTreeMap<String, Quantity>>,
    /// The node's IP (`status.hostIP`); default 127.0.0.1.
    pub node_ip: String,
    /// Lease duration written to the node Lease (default 40 s).
    pub lease_duration: Duration,
    /// How often the node Lease is renewed (default 10 s).
    pub renew_interval: Duration,
    /// How often each pod worker looks at its containers anyway (default 1 s).
    pub resync_interval: Duration,
    /// The agent's own directory (the kubelet's `--root-dir`): pod volumes
    /// live in `pods/<uid>/volumes/` under it. Default
    /// `<temp dir>/orch-agent-<node>-<pid>`; set a durable one (say
    /// `/var/lib/orch/<node>`) for a node that outlives its process.
    pub root_dir: std::path::PathBuf,
    /// How often `configMap` and `secret` volumes are compared with their
    /// object and rewritten if it changed (default 10 s; the kubelet takes
    /// up to its sync period plus its cache TTL, about a minute).
    pub volume_resync_interval: Duration,
    /// CrashLoopBackOff: delay before the second restart (default 10 s).
    pub backoff_initial: Duration,
    /// CrashLoopBackOff: largest delay (default 300 s).
    pub backoff_max: Duration,
    /// CrashLoopBackOff: a container that ran this long starts over (default 10 min).
    pub backoff_reset: Duration,
    /// Registry credentials for image pulls, chosen by the image's registry
    /// host (`server_address`, e.g. `registry.example.com` or
    /// `localhost:5000`; `index.docker.io` for Docker Hub). Failed pulls
    /// back off as crash loops do (`backoff_initial` doubling to `backoff_max`).
    pub registry_credentials: Vec<crate::runtime::AuthConfig>,
    /// Where to record the kubelet's metrics (`None`: nowhere).
    pub metrics: Option<Arc<NodeAgentMetrics>>,
}

impl NodeAgentConfig {
    /// Defaults for a node named `node_name`.
    pub fn new(node_name: &str) -> Self {
        NodeAgentConfig {
            node_name: node_name.to_owned(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            capacity: None,
            node_ip: "127.0.0.1".into(),
            lease_duration: Duration::from_secs(40),
            renew_interval: Duration::from_secs(10),
            resync_interval: Duration::from_secs(1),
            root_dir: std::env::temp_dir()
                .join(format!("orch-agent-{node_name}-{}", std::process::id())),
            volume_resync_interval: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            backoff_reset: Duration::from_secs(600),
            registry_credentials: Vec::new(),
            metrics: None,
        }
    }

    /// Adds a Node label.
    #[must_use]
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// What every pod worker of an agent shares.
pub(crate) struct AgentShared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) config: NodeAgentConfig,
    pub(crate) recorder: orch_core::controller::EventRecorder,
    /// The runtime's name (`containerd`, `orch-process`), learned at
    /// registration: the scheme of container IDs in Pod status.
    pub(crate) runtime_name: std::sync::OnceLock<String>,
}

impl AgentShared {
    /// The scheme of container IDs in Pod status, as the kubelet's
    /// `containerd://<id>`.
    pub(crate) fn container_id_scheme(&self) -> &str {
        self.runtime_name.get().map_or("cri", String::as_str)
    }
}

/// The `Ready` condition a node agent posts while it runs (kubelet's
/// `KubeletReady`), heartbeat at `now`.
fn ready_condition(now: Time) -> NodeCondition {
    NodeCondition {
        type_: "Ready".into(),
        status: "True".into(),
        last_heartbeat_time: Some(now),
        last_transition_time: None,
        reason: Some("KubeletReady".into()),
        message: Some("orch node agent is posting ready status".into()),
    }
}

/// The node agent. See the [module docs](self).
#[must_use = "a NodeAgent does nothing until run"]
pub struct NodeAgent {
    shared: Arc<AgentShared>,
}

impl std::fmt::Debug for NodeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgent").field("node", &self.shared.config.node_name).finish()
    }
}

/// The machine's capacity: cpu in millicores, memory in bytes, 110 pods.
pub fn machine_capacity() -> BTreeMap<String, Quantity> {
    let cpus = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        })
        .map_or(1 << 30, |kib| kib * 1024);
    BTreeMap::from([
        ("cpu".to_string(), Quantity::from_millis(cpus * 1000)),
        ("memory".to_string(), Quantity::from_bytes(memory)),
        ("pods".to_string(), Quantity::from("110")),
    ])
}

impl NodeAgent {
    /// An agent for `config.node_name`.
    pub fn new(store: Arc<dyn Store>, runtime: Arc<dyn Runtime>, config: NodeAgentConfig) -> Self {
        let recorder = orch_core::controller::EventRecorder::new(
            store.clone(),
            "kubelet",
            Some(&config.node_name),
        );
        NodeAgent {
            shared: Arc::new(AgentShared {
                store,
                runtime,
                config,
                recorder,
                runtime_name: Default::default(),
            }),
        }
    }

    /// Registers (or updates) the Node with the Ready condition.
    async fn register(&self) -> Result<()> {
        let c = &self.shared.config;
        let api: Api<Node> = Api::all(self.shared.store.clone());
        let mut labels = c.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), c.node_name.clone());
        let capacity = c.capacity.clone().unwrap_or_else(machine_capacity);
        let version = self.shared.runtime.version().await?;
        let _ = self.shared.runtime_name.set(version.runtime_name.clone());
        let now = Time::now();
        let mut status = NodeStatus {
            capacity: capacity.clone(),
            allocatable: capacity,
            conditions: Vec::new(),
            addresses: vec![
                NodeAddress { type_: "InternalIP".into(), address: c.node_ip.clone() },
                NodeAddress { type_: "Hostname".into(), address: c.node_name.clone() },
            ],
            node_info: Some(NodeSystemInfo {
                kubelet_version: format!("orch/{}", env!("CARGO_PKG_VERSION")),
                container_runtime_version: format!(
                    "{}://{}",
                    version.runtime_name, version.runtime_version
                ),
                operating_system: std::env::consts::OS.into(),
                architecture: std::env::consts::ARCH.into(),
            }),
            images: self.images().await,
        };
        let node = match api.get_opt(&c.node_name).await? {
            Some(mut existing) => {
                existing.metadata.labels.extend(labels);
                // Taints the agent registers with are added once; taints
                // others put on the Node (the node lifecycle controller, an
                // admin's cordon) stay, as the kubelet leaves them.
                for taint in &c.taints {
                    let present = existing
                        .spec
                        .taints
                        .iter()
                        .any(|t| t.key == taint.key && t.effect == taint.effect);
                    if !present {
                        existing.spec.taints.push(taint.clone());
                    }
                }
                api.replace(&existing).await?
            }
            None => {
                let mut node =
                    Node { metadata: ObjectMeta::named(c.node_name.clone()), ..Default::default() };
                node.metadata.labels = labels;
                node.spec.taints = c.taints.clone();
                api.create(&node).await?
            }
        };
        let mut with_status = node;
        // Re-registering keeps the conditions others set, and Ready's
        // transition time if it was Ready already.
        status.conditions = with_status.status.take().unwrap_or_default().conditions;
        set_condition(&mut status.conditions, ready_condition(now), now);
        with_status.status = Some(status);
        api.replace_status(&with_status).await?;
        Ok(())
    }

    /// The runtime's images, as the Node reports them (none if the runtime
    /// cannot list them now: the next heartbeat tries again).
    async fn images(&self) -> Vec<orch_core::kinds::node::ContainerImage> {
        match self.shared.runtime.list_images().await {
            Ok(listed) => images::node_images(&listed),
            Err(e) => {
                tracing::warn!(node = %self.shared.config.node_name, error = %e, "listing images failed");
                Vec::new()
            }
        }
    }

    /// The heartbeat's status update: reports Ready again if someone (the
    /// node lifecycle controller) marked the node otherwise while the agent
    /// was away, and the runtime's images when they changed. Writes only
    /// when something changed.
    async fn update_status(&self) -> Result<()> {
        let api: Api<Node> = Api::all(self.shared.store.clone());
        let Some(mut node) = api.get_opt(&self.shared.config.node_name).await? else {
            return Ok(());
        };
        let images = self.images().await;
        let status = node.status.get_or_insert_with(Default::default);
        let mut changed = false;
        if find_condition(&status.conditions, "Ready").is_some_and(|c| c.status != "True") {
            let now = Time::now();
            set_condition(&mut status.conditions, ready_condition(now), now);
            changed = true;
        }
        if status.images != images {
            status.images = images;
            changed = true;
        }
        if changed {
            api.replace_status(&node).await?;
        }
        Ok(())
    }

    /// Creates or renews the node Lease.
    async fn renew_lease(&self) -> Result<()> {
        let c = &self.shared.config;
        let api: Api<Lease> = Api::namespaced(self.shared.store.clone(), NODE_LEASE_NAMESPACE);
        let now = MicroTime::now();
        match api.get_opt(&c.node_name).await? {
            Some(mut lease) => {
                lease.spec.renew_time = Some(now);
                lease.spec.holder_identity = Some(c.node_name.clone());
                api.replace(&lease).await?;
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta::named(c.node_name.clone()),
                    spec: LeaseSpec {
                        holder_identity: Some(c.node_name.clone()),
                        lease_duration_seconds: Some(c.lease_duration.as_secs() as i32),
                        acquire_time: Some(now),
                        renew_time: Some(now),
                        lease_transitions: Some(0),
                    },
                    ..Default::default()
                };
                api.create(&lease).await?;
            }
        }
        Ok(())
    }

    /// Runs until `shutdown` is cancelled. Containers keep running after it
    /// stops; a new agent adopts them.
    ///
    /// Errors: registering the Node failed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        self.register().await?;
        self.renew_lease().await?;
        let heartbeat = {
            let agent = NodeAgent { shared: self.shared.clone() };
            let stop = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(agent.shared.config.renew_interval) => {}
                    }
                    if let Err(e) = agent.renew_lease().await {
                        tracing::warn!(node = %agent.shared.config.node_name, error = %e, "renewing the node lease failed");
                    }
                    if let Err(e) = agent.update_status().await {
                        tracing::warn!(node = %agent.shared.config.node_name, error = %e, "updating the node status failed");
                    }
                    if let Some(m) = &agent.shared.config.metrics {
                        let node = &agent.shared.config.node_name;
                        m.sample(node, &*agent.shared.runtime, agent.sandboxes()).await;
                    }
                }
            })
        };
        let pods: Api<Pod> = Api::all(self.shared.store.clone());
        let config = WatcherConfig {
            field_selector: Some(format!("spec.nodeName={}", self.shared.config.node_name)),
            ..Default::default()
        };
        let mut events = watcher(pods, config);
        let mut workers: HashMap<String, mpsc::UnboundedSender<Update>> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut cleaned = false;
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                e = events.next() => e,
            };
            let (restart, changed, deleted): (bool, Vec<Pod>, Vec<Pod>) = match event {
                Some(Ok(WatcherEvent::Restarted(list))) => (true, list, Vec::new()),
                Some(Ok(WatcherEvent::Applied(p))) => (false, vec![p], Vec::new()),
                Some(Ok(WatcherEvent::Deleted(p))) => (false, Vec::new(), vec![p]),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "pod watch failed; retrying");
                    continue;
                }
                None => break,
            };
            if restart {
                let present: HashSet<&str> =
                    changed.iter().map(|p| p.metadata.uid.as_str()).collect();
                for (uid, tx) in &workers {
                    if !present.contains(uid.as_str()) {
                        let _ = tx.send(Update::Gone);
                    }
                }
                if !cleaned {
                    self.remove_orphans(&present).await;
                    cleaned = true;
                }
            }
            for pod in changed {
                let uid = pod.metadata.uid.clone();
                let pod = Arc::new(pod);
                let alive =
                    workers.get(&uid).is_some_and(|tx| tx.send(Update::Pod(pod.clone())).is_ok());
                if !alive {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tasks.spawn(Worker::new(self.shared.clone(), pod).run(rx));
                    workers.insert(uid, tx);
                }
            }
            for pod in deleted {
                if let Some(tx) = workers.remove(&pod.metadata.uid) {
                    let _ = tx.send(Update::Gone);
                }
            }
            workers.retain(|_, tx| !tx.is_closed());
        }
        // The heartbeat and the workers end before this returns (and the
        // workers before their channels close), so nothing of this agent
        // acts after it has stopped.
        heartbeat.abort();
        let _ = heartbeat.await;
        tasks.shutdown().await;
        drop(workers);
        Ok(())
    }

    /// Removes this node's sandboxes of pods that no longer run here
    /// (deleted while the agent was down). Sandboxes of other nodes' agents
    /// on the same runtime are left alone.
    async fn remove_orphans(&self, present: &HashSet<&str>) {
        let rt = &self.shared.runtime;
        let Ok(sandboxes) = rt.list_pod_sandbox(&self.sandboxes()).await else { return };
        for s in sandboxes {
            let uid = s.labels.get(LABEL_POD_UID).map(String::as_str).unwrap_or("");
            if !uid.is_empty() && !present.contains(uid) {
                let _ = rt.stop_pod_sandbox(&s.id).await;
                let _ = rt.remove_pod_sandbox(&s.id).await;
            }
        }
        // Their volumes too (the root directory is this agent's own).
        let root = &self.shared.config.root_dir;
        for uid in volumes::pods_on_disk(root) {
            if !present.contains(uid.as_str()) {
                volumes::tear_down(root, &uid);
            }
        }
    }

    /// The filter of this node's sandboxes (a runtime may hold other
    /// nodes' too).
    fn sandboxes(&self) -> PodSandboxFilter {
        PodSandboxFilter {
            label_selector: BTreeMap::from([(
                LABEL_NODE_NAME.to_string(),
                self.shared.config.node_name.clone(),
            )]),
            ..Default::default()
        }
    }
}
