//! The embedded cluster: orch's main job in one process — the store, the
//! ReplicaSet, Deployment, garbage-collector and node-lifecycle controllers
//! and the scheduler under leader election, and `--nodes` node agents on the
//! process runtime. It applies the manifests, shows the pods as they come
//! up, and prints each pod's HTTP address once it is Ready.
//!
//! ```text
//! cargo run --release --example cluster -- [--nodes N] [--manifest PATH]...
//!     [--exit-when-ready [--timeout SECONDS]] [--demo]
//! cargo run --release --features cri --example cluster -- --runtime cri
//!     --cri-socket /run/containerd/containerd.sock [--exit-when-ready]
//! ```
//!
//! With `--runtime cri` one node agent runs its pods on the CRI runtime at
//! `--cri-socket` (containerd or CRI-O), and the default manifest serves
//! HTTP with busybox's httpd from the image `localhost/busybox:latest`,
//! which must be in the runtime (`ctr -n k8s.io images import`; orch's
//! `BusyboxImage` builds one around Debian's busybox-static).
//!
//! The `myapp` image runs orch's demo HTTP server (this program, re-run
//! with `--serve-http`): `GET /` answers with the pod name and the image tag.
//! Exit codes: 0 done; 1 not ready in time, or unschedulable (with the
//! scheduler's reason); 2 a bad manifest (nothing from it is applied).

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use orch_controllers::deployment::rollback;
use orch_controllers::{
    DeploymentController, GarbageCollector, NodeLifecycleConfig, NodeLifecycleController,
    ReplicaSetController,
};
use orch_core::api::{ListParams, WatchParams};
use orch_core::controller::{InformerFactory, LeaderElectionConfig, LeaderElector};
use orch_core::manifest::{self, ManifestObject, Registry};
use orch_core::store::{Compactor, Store};
use orch_core::{Api, Deployment, Event, Lease, Node, Pod, Quantity, ReplicaSet};
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_runtime::runtime::Runtime;
use orch_sched::framework::Registry as PluginRegistry;
use orch_sched::scheduler::{Scheduler, SchedulerConfig};
use orch_store::{EtcdApiServer, MemStore, MemberInfo, RaftStore};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(about = "An embedded orch control plane with node agents, in one process")]
struct Args {
    /// Node agents to run (default 3; with `--runtime cri`, 1).
    #[arg(long)]
    nodes: Option<usize>,
    /// Where node agents run containers: `process` (local processes, no
    /// root, no images) or `cri` (a CRI runtime such as containerd at
    /// `--cri-socket`; built with `--features cri`).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Process)]
    runtime: RuntimeKind,
    /// The CRI runtime's socket, with `--runtime cri`.
    #[arg(long, value_name = "PATH", default_value = "/run/containerd/containerd.sock")]
    cri_socket: PathBuf,
    /// A manifest to apply (YAML or JSON, multi-document); repeatable.
    #[arg(long = "manifest", value_name = "PATH")]
    manifests: Vec<PathBuf>,
    /// Exit 0 once every workload is ready; exit 1 with the reasons if not in time.
    #[arg(long)]
    exit_when_ready: bool,
    /// Seconds to wait for readiness.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Once ready: kill a replica's process, roll out a new version, roll back.
    #[arg(long)]
    demo: bool,
    /// Also serve the cluster's store over etcd's v3 gRPC API on this address
    /// (e.g. 127.0.0.1:2379; port 0 picks one), for `etcdctl --endpoints=ADDR`.
    #[arg(long, value_name = "ADDR")]
    serve_etcd: Option<std::net::SocketAddr>,
    /// The store: `raft`, a replicated, durable RaftStore with its members
    /// in this process, or `mem`, a MemStore (not durable).
    #[arg(long, value_enum, default_value_t = StoreKind::Raft)]
    store: StoreKind,
    /// RaftStore members (1, 3 or 5).
    #[arg(long, default_value_t = 3)]
    store_members: usize,
    /// Where RaftStore members keep their logs and snapshots (default: a
    /// temporary directory removed on exit). Started again on the same
    /// directory, the cluster finds its objects again.
    #[arg(long, value_name = "DIR")]
    store_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum RuntimeKind {
    Process,
    Cri,
}

impl Args {
    /// The node count, or why the arguments do not go together.
    fn checked_nodes(&self) -> Result<usize, String> {
        match self.runtime {
            RuntimeKind::Process => Ok(self.nodes.unwrap_or(3)),
            RuntimeKind::Cri if self.demo => {
                Err("--demo kills a container's process: it needs --runtime process".into())
            }
            // One CRI runtime is one machine: agents sharing it would share
            // its host ports.
            RuntimeKind::Cri => match self.nodes {
                None | Some(1) => Ok(1),
                Some(n) => Err(format!("--nodes {n}: --runtime cri runs one node on its runtime")),
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StoreKind {
    Raft,
    Mem,
}

/// The store the cluster runs on.
enum ClusterStore {
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

    fn describe(&self) -> String {
        match self {
            ClusterStore::Raft(m) => format!("RaftStore, {} member(s)", m.len()),
            ClusterStore::Mem(_) => "MemStore".into(),
        }
    }
}

fn default_manifest(runtime: RuntimeKind) -> PathBuf {
    let file = match runtime {
        RuntimeKind::Process => "manifests/web.yaml",
        RuntimeKind::Cri => "manifests/web-busybox.yaml",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file)
}

/// The node runtimes of this process.
enum NodeRuntimes {
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
    fn container_pid(&self, id: &str) -> Option<i32> {
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
struct Cluster {
    store: Arc<dyn Store>,
    backend: ClusterStore,
    runtimes: NodeRuntimes,
    nodes: usize,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    root: PathBuf,
}

impl Cluster {
    async fn start(args: &Args) -> Result<Cluster, String> {
        let nodes = args.checked_nodes()?;
        let stop = CancellationToken::new();
        let root = std::env::temp_dir().join(format!("orch-cluster-{}", std::process::id()));
        let backend =
            ClusterStore::open(args.store, args.store_members, args.store_dir.clone(), &root)
                .await?;
        let store = backend.handle(0);
        let mut runtimes = NodeRuntimes::open(args).await?;
        let mut tasks = Vec::new();
        for i in 1..=nodes {
            let name = format!("node-{i}");
            let runtime = runtimes.for_node(i, &name, &root)?;
            let mut agent = NodeAgentConfig::new(&name)
                .label("topology.kubernetes.io/zone", ["zone-a", "zone-b", "zone-c"][(i - 1) % 3]);
            agent.capacity = Some(BTreeMap::from([
                ("cpu".to_string(), Quantity::from("4")),
                ("memory".to_string(), Quantity::from("8Gi")),
                ("pods".to_string(), Quantity::from("110")),
            ]));
            agent.renew_interval = Duration::from_secs(2);
            let agent = NodeAgent::new(backend.handle(i), runtime, agent);
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
        tasks.push(tokio::spawn(async move {
            elector
                .run(s, |leading| {
                    let f = f.clone();
                    async move {
                        let mut parts = Vec::new();
                        let rs = Arc::new(ReplicaSetController::new(&f));
                        parts.push(tokio::spawn(
                            ReplicaSetController::controller(f.clone())
                                .concurrency(2)
                                .run(rs, leading.clone()),
                        ));
                        let d = Arc::new(DeploymentController::new(&f));
                        parts.push(tokio::spawn(
                            DeploymentController::controller(f.clone()).run(d, leading.clone()),
                        ));
                        parts.push(tokio::spawn(
                            GarbageCollector::new(f.clone()).builtin_kinds().run(leading.clone()),
                        ));
                        let nl = Arc::new(NodeLifecycleController::new(
                            &f,
                            NodeLifecycleConfig::default(),
                        ));
                        parts.push(tokio::spawn(
                            NodeLifecycleController::controller(f.clone()).run(nl, leading.clone()),
                        ));
                        match Scheduler::new(
                            f.clone(),
                            &PluginRegistry::default(),
                            SchedulerConfig::default(),
                        ) {
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
        let cluster = Cluster { store, backend, runtimes, nodes, stop, tasks, root };
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

    /// Serves the store over etcd's v3 API on `addr` until shutdown.
    async fn serve_etcd(&mut self, addr: std::net::SocketAddr) -> Result<(), String> {
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

    /// Stops everything and leaves no process behind.
    async fn shutdown(self) {
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

fn http_get(addr: &str) -> Option<String> {
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.split("\r\n\r\n").nth(1)?.trim().to_owned())
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn address(p: &Pod) -> Option<String> {
    let ip = p.status.as_ref()?.pod_ip.clone()?;
    let port = p.spec.containers.iter().flat_map(|c| c.ports.iter()).next()?.container_port;
    Some(format!("{ip}:{port}"))
}

/// Shows pods and events, and checks each Ready pod's address once.
struct Display {
    tty: bool,
    rows: BTreeMap<String, String>,
    answered: HashMap<String, String>,
    failures: Vec<String>,
}

impl Display {
    fn age(p: &Pod) -> String {
        let Some(t) = p.metadata.creation_timestamp else { return "-".into() };
        let secs = (chrono::Utc::now() - t.0).num_seconds().max(0);
        if secs < 120 {
            format!("{secs}s")
        } else {
            format!("{}m", secs / 60)
        }
    }

    fn show(&mut self, pods: &[Pod]) {
        let mut rows = BTreeMap::new();
        for p in pods {
            let s = p.status.clone().unwrap_or_default();
            let phase = if p.metadata.is_deleting() {
                "Terminating".to_owned()
            } else {
                s.phase.map_or("Pending", |ph| ph.as_str()).to_owned()
            };
            let restarts: i32 = s.container_statuses.iter().map(|c| c.restart_count).sum();
            let row = format!(
                "{:<28} {:<8} {:<12} {:<6} {:<9} {}",
                p.metadata.name,
                p.spec.node_name.as_deref().unwrap_or("-"),
                phase,
                if is_ready(p) { "yes" } else { "no" },
                restarts,
                Self::age(p)
            );
            rows.insert(p.metadata.name.clone(), row);
            if is_ready(p) && !self.answered.contains_key(&p.metadata.name) {
                if let Some(addr) = address(p) {
                    match http_get(&addr) {
                        Some(body) if body.contains(&p.metadata.name) => {
                            println!(
                                "pod {} is ready at http://{addr}/ and answered {body:?}",
                                p.metadata.name
                            );
                            self.answered.insert(p.metadata.name.clone(), body);
                        }
                        Some(body) => {
                            self.failures.push(format!(
                                "pod {} at {addr} answered {body:?}, not its name",
                                p.metadata.name
                            ));
                            self.answered.insert(p.metadata.name.clone(), body);
                        }
                        None => {} // not listening yet: try again next round
                    }
                }
            }
        }
        if self.tty {
            println!(
                "\x1b[2J\x1b[H{:<28} {:<8} {:<12} {:<6} {:<9} AGE",
                "POD", "NODE", "PHASE", "READY", "RESTARTS"
            );
            for r in rows.values() {
                println!("{r}");
            }
            let _ = std::io::stdout().flush();
        } else {
            for (name, r) in &rows {
                if self.rows.get(name) != Some(r) {
                    println!("pod  {r}");
                }
            }
        }
        self.rows = rows;
    }
}

/// Workloads applied from the manifests, by kind and name.
#[derive(Clone, Debug, Default)]
struct Workloads {
    deployments: Vec<(String, String)>,
    replica_sets: Vec<(String, String)>,
}

impl Workloads {
    fn from(objects: &[ManifestObject]) -> Self {
        let mut w = Workloads::default();
        for o in objects {
            let ns = if o.object.metadata.namespace.is_empty() {
                "default".to_owned()
            } else {
                o.object.metadata.namespace.clone()
            };
            match o.resource.kind.as_str() {
                "Deployment" => w.deployments.push((ns, o.object.metadata.name.clone())),
                "ReplicaSet" => w.replica_sets.push((ns, o.object.metadata.name.clone())),
                _ => {}
            }
        }
        w
    }

    async fn ready(&self, store: &Arc<dyn Store>) -> bool {
        for (ns, name) in &self.deployments {
            let Ok(Some(d)) = Api::<Deployment>::namespaced(store.clone(), ns).get_opt(name).await
            else {
                return false;
            };
            let want = d.spec.replicas();
            let s = d.status.clone().unwrap_or_default();
            let ok = s.observed_generation == Some(d.metadata.generation)
                && s.updated_replicas == Some(want)
                && s.ready_replicas.unwrap_or(0) == want
                && s.replicas == Some(want);
            if !ok {
                return false;
            }
        }
        for (ns, name) in &self.replica_sets {
            let Ok(Some(rs)) = Api::<ReplicaSet>::namespaced(store.clone(), ns).get_opt(name).await
            else {
                return false;
            };
            if rs.status.and_then(|s| s.ready_replicas).unwrap_or(0)
                != rs.spec.replicas.unwrap_or(1)
            {
                return false;
            }
        }
        true
    }
}

async fn all_pods(store: &Arc<dyn Store>) -> Vec<Pod> {
    Api::<Pod>::all(store.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Waits until the workloads are ready. `Err` carries the reasons.
async fn wait_ready(
    store: &Arc<dyn Store>,
    workloads: &Workloads,
    display: &mut Display,
    timeout: Duration,
) -> Result<(), Vec<String>> {
    let start = Instant::now();
    let mut unschedulable_since: HashMap<String, Instant> = HashMap::new();
    loop {
        // The workloads' status first, then the pods: a pod the status
        // counts as ready is ready in the list read after it, so it must
        // have answered too.
        let ready = workloads.ready(store).await;
        let pods = all_pods(store).await;
        display.show(&pods);
        // Ready, and every ready pod that serves HTTP has answered.
        let answered = pods
            .iter()
            .filter(|p| !p.metadata.is_deleting() && is_ready(p) && address(p).is_some())
            .all(|p| display.answered.contains_key(&p.metadata.name));
        if ready && answered {
            return Ok(());
        }
        // Fail fast: a pod the scheduler has rejected for 5 s will not fit
        // this fixed cluster.
        for p in &pods {
            let rejected = p.status.as_ref().and_then(|s| {
                s.conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False")
            });
            match rejected {
                Some(c) => {
                    let since = *unschedulable_since
                        .entry(p.metadata.name.clone())
                        .or_insert_with(Instant::now);
                    if since.elapsed() >= Duration::from_secs(5) {
                        return Err(vec![format!(
                            "pod {} cannot be scheduled: {}",
                            p.metadata.name,
                            c.message.clone().unwrap_or_default()
                        )]);
                    }
                }
                None => {
                    unschedulable_since.remove(&p.metadata.name);
                }
            }
        }
        if start.elapsed() >= timeout {
            let mut reasons = Vec::new();
            for p in pods.iter().filter(|p| !is_ready(p)) {
                let s = p.status.clone().unwrap_or_default();
                let waiting: Vec<String> = s
                    .container_statuses
                    .iter()
                    .filter_map(|c| {
                        c.state.as_ref()?.waiting.as_ref().map(|w| {
                            format!(
                                "{}: {} {}",
                                c.name,
                                w.reason.clone().unwrap_or_default(),
                                w.message.clone().unwrap_or_default()
                            )
                        })
                    })
                    .collect();
                reasons.push(format!(
                    "pod {} not ready ({:?}) {}",
                    p.metadata.name,
                    s.phase,
                    waiting.join("; ")
                ));
            }
            if reasons.is_empty() {
                reasons.push(format!("workloads not ready after {timeout:?}"));
            }
            return Err(reasons);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints Events as they happen.
async fn print_events(store: Arc<dyn Store>, stop: CancellationToken) {
    let api: Api<Event> = Api::all(store);
    let Ok(mut events) = api.watch(&WatchParams::default(), "").await else { return };
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            e = events.next() => e,
        };
        match next {
            Some(Ok(orch_core::api::WatchEvent::Added(e)))
            | Some(Ok(orch_core::api::WatchEvent::Modified(e))) => {
                let o = &e.involved_object;
                println!(
                    "event {:<7} {:<20} {}/{}: {}",
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    o.kind.to_lowercase(),
                    o.name,
                    e.message.unwrap_or_default()
                );
            }
            Some(Ok(_)) => {}
            _ => return,
        }
    }
}

fn bump(image: &str) -> String {
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let parts: Vec<&str> = tag.split('.').collect();
    match (parts.len(), parts.get(1).and_then(|m| m.parse::<u32>().ok())) {
        (3, Some(minor)) => format!("{name}:{}.{}.0", parts[0], minor + 1),
        _ => format!("{name}:{tag}-next"),
    }
}

/// The demo: self-healing, a rolling update within maxUnavailable, a rollback.
async fn demo(
    cluster: &Cluster,
    workloads: &Workloads,
    display: &mut Display,
) -> Result<(), String> {
    let store: Arc<dyn Store> = cluster.store.clone();
    let (ns, name) = workloads.deployments.first().cloned().ok_or("--demo needs a Deployment")?;
    let deployments: Api<Deployment> = Api::namespaced(store.clone(), &ns);
    let d = deployments.get(&name).await.map_err(|e| e.to_string())?;
    let want = d.spec.replicas();
    let selector = orch_core::selector::LabelSelector::from_object(&d.spec.selector)
        .map_err(|e| e.to_string())?;
    let ours = |pods: Vec<Pod>| -> Vec<Pod> {
        pods.into_iter()
            .filter(|p| p.metadata.namespace == ns && selector.matches(&p.metadata.labels))
            .collect()
    };

    // 1. Self-healing: kill one replica's process.
    let victim =
        ours(all_pods(&store).await).into_iter().find(is_ready).ok_or("no ready pod to kill")?;
    let cid = victim
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.first()?.container_id.clone())
        .ok_or("no container id")?;
    let cid = cid.split_once("://").map_or(cid.as_str(), |(_, id)| id);
    let pid = cluster.runtimes.container_pid(cid).ok_or("container process not found")?;
    println!("demo 1/3: killing pid {pid} of pod {}", victim.metadata.name);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    loop {
        let p = Api::<Pod>::namespaced(store.clone(), &ns)
            .get(&victim.metadata.name)
            .await
            .map_err(|e| e.to_string())?;
        let restarts = p
            .status
            .as_ref()
            .map_or(0, |s| s.container_statuses.iter().map(|c| c.restart_count).sum::<i32>());
        display.show(&all_pods(&store).await);
        if restarts >= 1 && is_ready(&p) {
            println!("demo 1/3: pod {} restarted its container (restarts {restarts}) and is Ready again: check passed", p.metadata.name);
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err("the killed replica did not come back".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 2. Rolling update to the next version, never below replicas − maxUnavailable.
    let (_, max_unavailable) = orch_controllers::deployment::rolling_bounds(&d);
    let old_image = d.spec.template.spec.containers[0].image.clone();
    let new_image = bump(&old_image);
    let old_version = old_image.rsplit_once(':').map_or("latest", |(_, t)| t).to_owned();
    let new_version = new_image.rsplit_once(':').map_or("latest", |(_, t)| t).to_owned();
    let roll_to = |image: &str, version: &str, step: &str| {
        let (store, ours, image, version, step) =
            (store.clone(), &ours, image.to_owned(), version.to_owned(), step.to_owned());
        async move {
            let start = Instant::now();
            let mut min_ready = want;
            loop {
                let pods = ours(all_pods(&store).await);
                let live: Vec<&Pod> = pods.iter().filter(|p| !p.metadata.is_deleting()).collect();
                let ready = live.iter().filter(|p| is_ready(p)).count() as i32;
                min_ready = min_ready.min(ready);
                let on_new = live
                    .iter()
                    .filter(|p| p.spec.containers[0].image == image && is_ready(p))
                    .count() as i32;
                if on_new == want && live.len() as i32 == want {
                    // Every pod answers with the new version.
                    for p in &live {
                        let addr = address(p).ok_or("pod without address")?;
                        let body = http_get(&addr).ok_or(format!("{addr} did not answer"))?;
                        if !body.ends_with(&version) {
                            return Err(format!("{addr} answered {body:?}, not version {version}"));
                        }
                    }
                    println!("demo {step}: all {want} pods run {image} and answer version {version}; ready pods never fell below {min_ready} (replicas {want}, maxUnavailable {max_unavailable}): check passed");
                    return if min_ready >= want - max_unavailable {
                        Ok(())
                    } else {
                        Err(format!("ready pods fell to {min_ready}"))
                    };
                }
                if start.elapsed() > Duration::from_secs(120) {
                    return Err(format!("rollout to {image} did not finish"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    println!("demo 2/3: updating {name} from {old_image} to {new_image}");
    // A merge patch replaces lists whole: change the image on the full
    // object, reading it again if its controller updated it meanwhile.
    let mut attempts = 0;
    loop {
        let mut updated = deployments.get(&name).await.map_err(|e| e.to_string())?;
        updated.spec.template.spec.containers[0].image = new_image.clone();
        match deployments.replace(&updated).await {
            Ok(_) => break,
            Err(orch_core::Error::Conflict { .. }) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.to_string()),
        }
    }
    roll_to(&new_image, &new_version, "2/3").await?;

    // 3. Roll back to the previous revision.
    println!("demo 3/3: rolling {name} back");
    rollback(store.clone(), &ns, &name, None).await.map_err(|e| e.to_string())?;
    roll_to(&old_image, &old_version, "3/3").await?;
    Ok(())
}

async fn run(args: Args) -> ExitCode {
    let registry = Registry::builtin();
    // Read and check every manifest before applying anything.
    let mut objects = Vec::new();
    for path in &args.manifests {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let docs = match manifest::parse(&text, &registry) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        for d in &docs {
            if let Err(e) = registry.validate(d) {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
            for field in &d.unknown_fields {
                eprintln!("warning: {}: document {}: field {field} is not modelled by orch and is ignored", path.display(), d.document);
            }
        }
        objects.extend(docs);
    }
    let mut cluster = match Cluster::start(&args).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "cluster up: {} node(s) on the {} runtime, control plane leader-elected, store: {}",
        cluster.nodes,
        match args.runtime {
            RuntimeKind::Process => "process",
            RuntimeKind::Cri => "CRI",
        },
        cluster.backend.describe()
    );
    if let Some(addr) = args.serve_etcd {
        if let Err(e) = cluster.serve_etcd(addr).await {
            eprintln!("error: {e}");
            cluster.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    let store: Arc<dyn Store> = cluster.store.clone();
    tokio::spawn(print_events(store.clone(), cluster.stop.clone()));
    for o in &objects {
        match registry.create(store.clone(), o).await {
            Ok(obj) => {
                println!("applied {} {}/{}", obj.kind, obj.metadata.namespace, obj.metadata.name)
            }
            // A store kept from an earlier run (--store-dir) has it already.
            Err(e @ orch_core::Error::AlreadyExists { .. }) => println!("unchanged: {e}"),
            Err(e) => {
                eprintln!("error: document {}: {e}", o.document);
                cluster.shutdown().await;
                return ExitCode::from(2);
            }
        }
    }
    let workloads = Workloads::from(&objects);
    let mut display = Display {
        tty: std::io::stdout().is_terminal(),
        rows: BTreeMap::new(),
        answered: HashMap::new(),
        failures: Vec::new(),
    };
    let code = if args.exit_when_ready || args.demo {
        match wait_ready(&store, &workloads, &mut display, Duration::from_secs(args.timeout)).await
        {
            Err(reasons) => {
                for r in reasons {
                    eprintln!("not ready: {r}");
                }
                ExitCode::FAILURE
            }
            Ok(()) if !display.failures.is_empty() => {
                for f in &display.failures {
                    eprintln!("error: {f}");
                }
                ExitCode::FAILURE
            }
            Ok(()) => {
                println!(
                    "all workloads ready; {} pod address(es) answered with their pod names",
                    display.answered.len()
                );
                if args.demo {
                    match demo(&cluster, &workloads, &mut display).await {
                        Ok(()) => {
                            println!("demo complete");
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("demo failed: {e}");
                            ExitCode::FAILURE
                        }
                    }
                } else {
                    ExitCode::SUCCESS
                }
            }
        }
    } else {
        // Listen for Ctrl-C before saying so (the handler is registered here).
        let mut interrupt =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: cannot listen for Ctrl-C: {e}");
                    cluster.shutdown().await;
                    return ExitCode::FAILURE;
                }
            };
        println!("running; Ctrl-C to stop");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = tick.tick() => display.show(&all_pods(&store).await),
            }
        }
        ExitCode::SUCCESS
    };
    println!("shutting down");
    cluster.shutdown().await;
    code
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.iter().any(|a| a == "--serve-http") {
        // Running as the `myapp` image inside a pod.
        return match orch_runtime::testing::demo_server::run(&argv) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("myapp: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut args = Args::parse();
    if let Err(e) = args.checked_nodes() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if args.manifests.is_empty() {
        args.manifests.push(default_manifest(args.runtime));
    }
    let rt =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    rt.block_on(run(args))
}
