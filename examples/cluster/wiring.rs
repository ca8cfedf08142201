//! The cluster's wiring: its store (RaftStore members or a MemStore), the
//! node runtimes, the node agents, and the control plane (controllers and
//! scheduler under leader election) started and stopped as one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_controllers::{
    DeploymentController, GarbageCollector, JobController, NodeLifecycleConfig,
    NodeLifecycleController, PodGc, PodGcConfig, ReplicaSetController, TaintEvictionConfig,
    TaintEvictionController,
};
use orch_core::api::ListParams;
use orch_core::controller::{InformerFactory, LeaderElectionConfig, LeaderElector};
use orch_core::store::{Compactor, Store};
use orch_core::{Api, Lease, Node, Quantity};
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_runtime::runtime::Runtime;
use orch_sched::framework::Registry as PluginRegistry;
use orch_sched::scheduler::{Scheduler, SchedulerConfig};
use orch_store::{
    EncryptedStore, EncryptionConfiguration, EtcdApiServer, MemStore, MemberInfo, RaftMetrics,
    RaftStore,
};
use tokio_util::sync::CancellationToken;

use crate::metrics::ClusterMetrics;
use crate::{Args, RuntimeKind, StoreKind};

/// The store the cluster runs on.
pub enum ClusterStore {
    /// RaftStore members in this process; the control plane uses the
    /// first, node agents take them in turn (as remote agents would
    /// connect to different members).
    Raft(Vec<RaftStore>),
    Mem(Arc<MemStore>),
}

impl ClusterStore {
    async fn open(
        kind: StoreKind,
        members: usize,
        dir: Option<PathBuf>,
        root: &std::path::Path,
    ) -> Result<ClusterStore, String> {
        match kind {
            StoreKind::Mem => Ok(ClusterStore::Mem(Arc::new(MemStore::new()))),
            StoreKind::Raft => {
                if ![1, 3, 5].contains(&members) {
                    return Err(format!("--store-members {members}: use 1, 3 or 5"));
                }
                let dir = dir.unwrap_or_else(|| root.join("store"));
                let members = RaftStore::in_process_durable(members, &dir)
                    .await
                    .map_err(|e| format!("RaftStore in {}: {e}", dir.display()))?;
                Ok(ClusterStore::Raft(members))
            }
        }
    }

    /// The store handle for the control plane (`i` 0) or node `i`.
    fn handle(&self, i: usize) -> Arc<dyn Store> {
        match self {
            ClusterStore::Raft(members) => Arc::new(members[i % members.len()].clone()),
            ClusterStore::Mem(m) => m.clone(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ClusterStore::Raft(m) => format!("RaftStore, {} member(s)", m.len()),
            ClusterStore::Mem(_) => "MemStore".into(),
        }
    }
}

/// The node runtimes of this process.
pub enum NodeRuntimes {
    /// One process runtime per node.
    Process(Vec<ProcessRuntime>),
    /// One CRI runtime, and the nodes whose agents use it.
    #[cfg(feature = "cri")]
    Cri { runtime: Box<orch_runtime::cri::CriRuntime>, nodes: Vec<String> },
}

impl NodeRuntimes {
    /// Connects to the CRI runtime, or makes nothing yet for processes.
    async fn open(args: &Args) -> Result<NodeRuntimes, String> {
        match args.runtime {
            RuntimeKind::Process => Ok(NodeRuntimes::Process(Vec::new())),
            #[cfg(feature = "cri")]
            RuntimeKind::Cri => {
                use orch_runtime::cri::{CriRuntime, CriRuntimeConfig};
                let config = CriRuntimeConfig::new(&args.cri_socket);
                let runtime = CriRuntime::connect(config).await.map_err(|e| {
                    format!("cannot reach the CRI runtime at {}: {e}", args.cri_socket.display())
                })?;
                Ok(NodeRuntimes::Cri { runtime: Box::new(runtime), nodes: Vec::new() })
            }
            #[cfg(not(feature = "cri"))]
            RuntimeKind::Cri => {
                Err("--runtime cri: this build has no CRI support; build with --features cri"
                    .into())
            }
        }
    }

    /// The runtime of node `i` (1-based) named `name`.
    fn for_node(
        &mut self,
        i: usize,
        name: &str,
        root: &std::path::Path,
    ) -> Result<Arc<dyn Runtime>, String> {
        match self {
            NodeRuntimes::Process(runtimes) => {
                let exe = std::env::current_exe().map_err(|e| e.to_string())?.display().to_string();
                // Each node's pods get addresses of their own: 127.<i>.x.y.
                let config = ProcessRuntimeConfig::new(root.join(name))
                    .image("myapp", &[&exe, "--serve-http"])
                    .address_block(u8::try_from(i).map_err(|_| "at most 255 nodes".to_string())?);
                let runtime = ProcessRuntime::new(config).map_err(|e| e.to_string())?;
                runtimes.push(runtime.clone());
                Ok(Arc::new(runtime))
            }
            #[cfg(feature = "cri")]
            NodeRuntimes::Cri { runtime, nodes } => {
                nodes.push(name.to_owned());
                Ok(Arc::new((**runtime).clone()))
            }
        }
    }

    /// The PID of a container's process (process runtime only).
    pub fn container_pid(&self, id: &str) -> Option<i32> {
        match self {
            NodeRuntimes::Process(runtimes) => runtimes.iter().find_map(|rt| rt.container_pid(id)),
            #[cfg(feature = "cri")]
            NodeRuntimes::Cri { .. } => None,
        }
    }

    /// Stops every container this cluster started (gracefully, 5 s).
    async fn shutdown(&self) {
        match self {
            NodeRuntimes::Process(runtimes) => {
                for rt in runtimes {
                    if let Err(e) = rt.shutdown(Duration::from_secs(5)).await {
                        eprintln!("shutdown: {e}");
                    }
                }
            }
            #[cfg(feature = "cri")]
            NodeRuntimes::Cri { runtime, nodes } => {
                for node in nodes {
                    remove_node_pods(&**runtime, node).await;
                }
            }
        }
    }
}

/// Stops and removes the sandboxes a node's agent made on a shared runtime
/// (its containers stopped with SIGTERM first, 5 s grace).
#[cfg(feature = "cri")]
async fn remove_node_pods(rt: &dyn Runtime, node: &str) {
    use orch_runtime::agent::LABEL_NODE_NAME;
    use orch_runtime::runtime::{ContainerFilter, ContainerState, PodSandboxFilter};
    let ours = PodSandboxFilter {
        label_selector: BTreeMap::from([(LABEL_NODE_NAME.to_string(), node.to_string())]),
        ..Default::default()
    };
    let Ok(sandboxes) = rt.list_pod_sandbox(&ours).await else { return };
    for s in sandboxes {
        let in_sandbox = ContainerFilter {
            pod_sandbox_id: Some(s.id.clone()),
            state: Some(ContainerState::Running),
            ..Default::default()
        };
        let running = rt.list_containers(&in_sandbox).await.unwrap_or_default();
        let stops = running.iter().map(|c| rt.stop_container(&c.id, Duration::from_secs(5)));
        futures::future::join_all(stops).await;
        if let Err(e) = rt.stop_pod_sandbox(&s.id).await {
            eprintln!("shutdown: {e}");
        }
        if let Err(e) = rt.remove_pod_sandbox(&s.id).await {
            eprintln!("shutdown: {e}");
        }
    }
}

/// The control plane and nodes of this process.
pub struct Cluster {
    /// The control plane's store handle.
    pub store: Arc<dyn Store>,
    pub backend: ClusterStore,
    pub runtimes: NodeRuntimes,
    /// Node agents running.
    pub nodes: usize,
    /// Cancelled by [`Cluster::shutdown`].
    pub stop: CancellationToken,
    /// Each node's runtime, by node name (`kubectl logs`, see `pod_logs.rs`).
    node_runtimes: BTreeMap<String, Arc<dyn Runtime>>,
    /// Every component's metrics (see `metrics.rs`).
    pub metrics: Arc<prometheus_client::registry::Registry>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    root: PathBuf,
}

impl Cluster {
    pub async fn start(args: &Args) -> Result<Cluster, String> {
        let nodes = args.checked_nodes()?;
        let stop = CancellationToken::new();
        let root = std::env::temp_dir().join(format!("orch-cluster-{}", std::process::id()));
        let backend =
            ClusterStore::open(args.store, args.store_members, args.store_dir.clone(), &root)
                .await?;
        let encryption = match &args.encryption_provider_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--encryption-provider-config {}: {e}", path.display()))?;
                let config = EncryptionConfiguration::from_yaml(&text)
                    .map_err(|e| format!("--encryption-provider-config {}: {e}", path.display()))?;
                Some(
                    EncryptedStore::new(backend.handle(0), &config).map_err(|e| {
                        format!("--encryption-provider-config {}: {e}", path.display())
                    })?,
                )
            }
            None => None,
        };
        // Store handle `i`, encrypting at rest if configured.
        let handle = |i: usize| -> Arc<dyn Store> {
            match &encryption {
                Some(e) => Arc::new(e.over(backend.handle(i))),
                None => backend.handle(i),
            }
        };
        let store = handle(0);
        let mut metrics = ClusterMetrics::new();
        if let ClusterStore::Raft(members) = &backend {
            metrics.registry.register_collector(Box::new(RaftMetrics::new(members)));
        }
        let mut runtimes = NodeRuntimes::open(args).await?;
        let mut tasks = Vec::new();
        let mut node_runtimes = BTreeMap::new();
        for i in 1..=nodes {
            let name = format!("node-{i}");
            let runtime = runtimes.for_node(i, &name, &root)?;
            node_runtimes.insert(name.clone(), runtime.clone());
            let mut agent = NodeAgentConfig::new(&name)
                .label("topology.kubernetes.io/zone", ["zone-a", "zone-b", "zone-c"][(i - 1) % 3]);
            agent.capacity = Some(BTreeMap::from([
                ("cpu".to_string(), Quantity::from("4")),
                ("memory".to_string(), Quantity::from("8Gi")),
                ("pods".to_string(), Quantity::from("110")),
            ]));
            agent.renew_interval = Duration::from_secs(2);
            agent.metrics = Some(metrics.agents.clone());
            let agent = NodeAgent::new(handle(i), runtime, agent);
            let s = stop.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = agent.run(s).await {
                    eprintln!("node agent failed: {e}");
                }
            }));
        }
        // History compaction, as kube-apiserver runs it for etcd.
        let compactor = Compactor::new(store.clone(), Compactor::DEFAULT_INTERVAL);
        tasks.push(tokio::spawn(compactor.run(stop.clone())));
        // Controllers and scheduler, active only while this process leads.
        let factory = Arc::new(InformerFactory::new(store.clone()));
        let leases: Api<Lease> = Api::namespaced(store.clone(), "kube-system");
        let elector = LeaderElector::new(
            leases,
            "orch-control-plane",
            &format!("cluster-{}", std::process::id()),
            LeaderElectionConfig::default(),
        );
        let (f, s) = (factory.clone(), stop.clone());
        let (cm, sm) = (metrics.controllers.clone(), metrics.scheduler.clone());
        tasks.push(tokio::spawn(async move {
            elector
                .run(s, |leading| {
                    let f = f.clone();
                    let (cm, sm) = (cm.clone(), sm.clone());
                    async move {
                        let mut parts = Vec::new();
                        let rs = Arc::new(ReplicaSetController::new(&f));
                        parts.push(tokio::spawn(
                            ReplicaSetController::controller(f.clone())
                                .concurrency(2)
                                .metrics(cm.clone())
                                .run(rs, leading.clone()),
                        ));
                        let j = Arc::new(JobController::new(&f));
                        parts.push(tokio::spawn(
                            JobController::controller(f.clone())
                                .metrics(cm.clone())
                                .run(j, leading.clone()),
                        ));
                        let d = Arc::new(DeploymentController::new(&f));
                        parts.push(tokio::spawn(
                            DeploymentController::controller(f.clone())
                                .metrics(cm.clone())
                                .run(d, leading.clone()),
                        ));
                        parts.push(tokio::spawn(
                            GarbageCollector::new(f.clone())
                                .builtin_kinds()
                                .metrics(&cm)
                                .run(leading.clone()),
                        ));
                        parts.push(tokio::spawn(
                            PodGc::new(&f, PodGcConfig::default()).run(leading.clone()),
                        ));
                        let nl = Arc::new(NodeLifecycleController::new(
                            &f,
                            NodeLifecycleConfig::default(),
                        ));
                        parts.push(tokio::spawn(
                            NodeLifecycleController::controller(f.clone())
                                .metrics(cm.clone())
                                .run(nl, leading.clone()),
                        ));
                        let te = Arc::new(TaintEvictionController::new(
                            &f,
                            TaintEvictionConfig::default(),
                        ));
                        parts.push(tokio::spawn(
                            TaintEvictionController::controller(f.clone())
                                .metrics(cm.clone())
                                .run(te, leading.clone()),
                        ));
                        let config = SchedulerConfig { metrics: Some(sm), ..Default::default() };
                        match Scheduler::new(f.clone(), &PluginRegistry::default(), config) {
                            Ok(sched) => parts.push(tokio::spawn(sched.run(leading.clone()))),
                            Err(e) => eprintln!("scheduler: {e}"),
                        }
                        for p in parts {
                            let _ = p.await;
                        }
                    }
                })
                .await;
            f.shutdown();
        }));
        let metrics = Arc::new(metrics.registry);
        let cluster =
            Cluster { store, backend, runtimes, nodes, stop, node_runtimes, metrics, tasks, root };
        let nodes_api: Api<Node> = Api::all(cluster.store.clone());
        let start = Instant::now();
        while nodes_api.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len()
            < nodes
        {
            if start.elapsed() > Duration::from_secs(30) {
                return Err("node agents did not register".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(cluster)
    }

    /// Serves the Kubernetes API on `addr` until shutdown, and writes a
    /// kubeconfig for it to `kubeconfig` (default: in the cluster's
    /// temporary directory) and a node kubeconfig for each of
    /// `node_kubeconfigs` (name, path); audits every request to
    /// `audit_log`.
    pub async fn serve_api(
        &mut self,
        addr: std::net::SocketAddr,
        kubeconfig: Option<&std::path::Path>,
        audit_log: Option<&std::path::Path>,
        node_kubeconfigs: &[(String, PathBuf)],
    ) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("--serve-api {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let path = kubeconfig.map(PathBuf::from).unwrap_or_else(|| self.root.join("kubeconfig"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        // A CA, a serving certificate and an admin client certificate
        // (system:masters), as kubeadm makes them; clients authenticate.
        let pki = orch_apiserver::pki::Pki::generate(&[]).map_err(|e| e.to_string())?;
        let admin = pki.client("admin", &["system:masters"]).map_err(|e| e.to_string())?;
        let config = pki.kubeconfig(&format!("https://{local}"), &admin, "default");
        std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
        for (name, node_path) in node_kubeconfigs {
            let cert = pki
                .client(&format!("system:node:{name}"), &["system:nodes"])
                .map_err(|e| e.to_string())?;
            let config = pki.kubeconfig(&format!("https://{local}"), &cert, "default");
            std::fs::write(node_path, config)
                .map_err(|e| format!("{}: {e}", node_path.display()))?;
        }
        let tls = orch_apiserver::tls::TlsSettings {
            server: pki.server.clone(),
            client_ca_pem: Some(pki.ca_pem.clone()),
        };
        let logs = crate::pod_logs::NodeLogs { runtimes: self.node_runtimes.clone() };
        let mut server = orch_apiserver::ApiServer::new(self.store.clone())
            .builtin_kinds()
            .authenticator(orch_apiserver::Authenticator::new())
            .rbac()
            .pod_logs(Arc::new(logs));
        if let Some(path) = audit_log {
            let log = orch_apiserver::AuditLog::open(path).map_err(|e| e.to_string())?;
            server = server.audit_log(log);
        }
        let stop = self.stop.clone();
        self.tasks.push(tokio::spawn(async move {
            if let Err(e) = server.serve_tls(listener, &tls, stop).await {
                eprintln!("Kubernetes API: {e}");
            }
        }));
        println!(
            "Kubernetes API on https://{local}: kubectl --kubeconfig {} get pods -w",
            path.display()
        );
        Ok(())
    }

    /// Serves the store over etcd's v3 API on `addr` until shutdown.
    pub async fn serve_etcd(&mut self, addr: std::net::SocketAddr) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("--serve-etcd {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let server = match &self.backend {
            ClusterStore::Raft(members) => members[0].etcd_api(),
            ClusterStore::Mem(m) => {
                EtcdApiServer::new(m.clone(), MemberInfo::standalone("cluster", local))
                    .with_backup(m.clone())
            }
        };
        let stop = self.stop.clone();
        self.tasks.push(tokio::spawn(async move {
            if let Err(e) = server.serve(listener, stop.cancelled_owned()).await {
                eprintln!("etcd API: {e}");
            }
        }));
        println!(
            "etcd API on {local}: etcdctl --endpoints={local} get --prefix /registry/ --keys-only"
        );
        Ok(())
    }

    /// Serves every component's metrics on `addr` (`GET /metrics`) until
    /// shutdown; returns the address served (another port if `addr`'s is
    /// taken).
    pub async fn serve_metrics(&mut self, addr: std::net::SocketAddr) -> Result<(), String> {
        let (task, local) =
            crate::metrics::serve(addr, self.metrics.clone(), self.stop.clone()).await?;
        self.tasks.push(task);
        println!("metrics on http://{local}/metrics");
        Ok(())
    }

    /// Stops everything and leaves no process behind.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        self.runtimes.shutdown().await;
        if let ClusterStore::Raft(members) = &self.backend {
            for m in members {
                m.shutdown().await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
