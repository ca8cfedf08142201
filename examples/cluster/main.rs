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
//!
//! On a terminal the pod table (with each pod's address) is redrawn in
//! place with the last Events below it; piped, a pod's row is printed only
//! when it changes, as `kubectl get -w` does (`display.rs`). The parts:
//! `wiring.rs` starts and stops the store, node agents and control plane,
//! `readiness.rs` waits for the workloads, `demo.rs` is `--demo`.
//!
//! Exit codes: 0 done; 1 not ready in time, or unschedulable (with the
//! scheduler's reason); 2 a bad manifest (nothing from it is applied).

mod demo;
mod display;
mod metrics;
mod pod_logs;
mod readiness;
mod wiring;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use orch_core::manifest::{self, Registry};
use orch_core::store::Store;

use display::Display;
use readiness::{all_pods, wait_ready, Workloads};
use wiring::Cluster;

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
    /// Encrypt resources at rest as this kube-apiserver
    /// `EncryptionConfiguration` file says (e.g. Secrets with `aesgcm`):
    /// every store handle of the cluster encrypts and decrypts; the store
    /// itself (and `--serve-etcd`) holds ciphertext.
    #[arg(long, value_name = "PATH")]
    encryption_provider_config: Option<PathBuf>,
    /// Serve every component's Prometheus metrics (`scheduler_*`,
    /// `workqueue_*`, `kubelet_*`, `etcd_*`) on `http://ADDR/metrics`
    /// (port 0 picks one; a default port in use falls back to another);
    /// `off` serves none.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:10259", value_parser = metrics_addr)]
    metrics_addr: MetricsAddr,
    /// Also serve the Kubernetes API (orch-apiserver, HTTPS with a CA of
    /// its own; clients authenticate with certificates) on this address
    /// (e.g. 127.0.0.1:6443; port 0 picks one), so that kubectl drives the
    /// cluster: it writes an admin kubeconfig to `--kubeconfig-out`.
    #[arg(long, value_name = "ADDR")]
    serve_api: Option<std::net::SocketAddr>,
    /// Where `--serve-api` writes its kubeconfig (default: `kubeconfig` in
    /// the cluster's temporary directory, removed on exit).
    #[arg(long, value_name = "PATH")]
    kubeconfig_out: Option<PathBuf>,
    /// With `--serve-api`: write kube-apiserver's audit log (Metadata
    /// level, JSON lines) here.
    #[arg(long, value_name = "PATH")]
    audit_log_path: Option<PathBuf>,
    /// With `--serve-api`: also write a node kubeconfig (a certificate for
    /// `system:node:NAME` in `system:nodes`) to PATH, for a node agent in
    /// another process to join with (the `node_agent` example); repeatable.
    #[arg(long, value_name = "NAME=PATH", value_parser = name_and_path)]
    node_kubeconfig_out: Vec<(String, PathBuf)>,
}

/// `--node-kubeconfig-out`: `NAME=PATH`.
fn name_and_path(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(path)))
        }
        _ => Err(format!("{s:?} is not NAME=PATH")),
    }
}

/// `--metrics-addr`: an address, or `off`.
#[derive(Clone, Copy, Debug)]
enum MetricsAddr {
    Off,
    At(std::net::SocketAddr),
}

fn metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    match s {
        "off" => Ok(MetricsAddr::Off),
        _ => s.parse().map(MetricsAddr::At).map_err(|e| format!("{s}: {e} (or `off`)")),
    }
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

fn default_manifest(runtime: RuntimeKind) -> PathBuf {
    let file = match runtime {
        RuntimeKind::Process => "manifests/web.yaml",
        RuntimeKind::Cri => "manifests/web-busybox.yaml",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file)
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
    if let MetricsAddr::At(addr) = args.metrics_addr {
        if let Err(e) = cluster.serve_metrics(addr).await {
            eprintln!("error: {e}");
            cluster.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    if let Some(addr) = args.serve_api {
        let kubeconfig = args.kubeconfig_out.as_deref();
        let audit = args.audit_log_path.as_deref();
        let nodes = &args.node_kubeconfig_out;
        if let Err(e) = cluster.serve_api(addr, kubeconfig, audit, nodes).await {
            eprintln!("error: {e}");
            cluster.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    if let Some(addr) = args.serve_etcd {
        if let Err(e) = cluster.serve_etcd(addr).await {
            eprintln!("error: {e}");
            cluster.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    let store: Arc<dyn Store> = cluster.store.clone();
    let mut display = Display::new(std::io::stdout().is_terminal());
    tokio::spawn(display.events().watch(store.clone(), cluster.stop.clone()));
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
    let code = if args.exit_when_ready || args.demo {
        match wait_ready(&store, &workloads, &mut display, Duration::from_secs(args.timeout)).await
        {
            Err(reasons) => {
                display.finish();
                for r in reasons {
                    eprintln!("not ready: {r}");
                }
                ExitCode::FAILURE
            }
            Ok(()) if !display.failures.is_empty() => {
                display.finish();
                for f in &display.failures {
                    eprintln!("error: {f}");
                }
                ExitCode::FAILURE
            }
            Ok(()) => {
                let answered = display.answered.len();
                display.note(format!(
                    "all workloads ready; {answered} pod address(es) answered with their pod names"
                ));
                if args.demo {
                    match demo::demo(&cluster, &workloads, &mut display).await {
                        Ok(()) => {
                            display.note("demo complete");
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            display.finish();
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
        // Listen for Ctrl-C (and SIGTERM, as `kill` and service managers
        // send) before saying so (the handlers are registered here).
        use tokio::signal::unix::{signal, SignalKind};
        let (mut interrupt, mut terminate) =
            match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(i), Ok(t)) => (i, t),
                (Err(e), _) | (_, Err(e)) => {
                    display.finish();
                    eprintln!("error: cannot listen for Ctrl-C: {e}");
                    cluster.shutdown().await;
                    return ExitCode::FAILURE;
                }
            };
        display.note("running; Ctrl-C to stop");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
                _ = tick.tick() => display.show(&all_pods(&store).await),
            }
        }
        ExitCode::SUCCESS
    };
    display.finish();
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
