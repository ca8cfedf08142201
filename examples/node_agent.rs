//! A node agent in a process of its own, joining a cluster through its API
//! server as a kubelet does: `cargo run --example node_agent -- --kubeconfig
//! PATH --name NAME`, where PATH is a node kubeconfig (a certificate for
//! `system:node:NAME` in `system:nodes`; the cluster example writes one with
//! `--serve-api ADDR --node-kubeconfig-out NAME=PATH`). It registers its
//! Node, renews its Lease and runs the pods bound to it as local processes
//! (ProcessRuntime), every write an HTTPS request the server authorizes:
//! RBAC's `system:node` role and the node restriction let it write only its
//! own Node, Lease and pods' status. It stops on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use orch_apiserver::Client;
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use tokio_util::sync::CancellationToken;

/// A node agent that joins a cluster through its API server.
#[derive(Parser)]
struct Args {
    /// The node kubeconfig: the API server, its CA, this node's client
    /// certificate.
    #[arg(long, value_name = "PATH")]
    kubeconfig: PathBuf,
    /// The Node's name; the certificate must be `system:node:<name>`.
    #[arg(long)]
    name: String,
    /// The pods' addresses: 127.<block>.x.y (the cluster example's own
    /// nodes use 1, 2, 3, …).
    #[arg(long, default_value_t = 200)]
    address_block: u8,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.kubeconfig)
        .map_err(|e| format!("{}: {e}", args.kubeconfig.display()))?;
    let client = Client::from_kubeconfig(&text).map_err(|e| e.to_string())?;
    let root = std::env::temp_dir().join(format!("orch-node-{}-{}", args.name, std::process::id()));
    let runtime = ProcessRuntime::new(
        ProcessRuntimeConfig::new(root.join("runtime")).address_block(args.address_block),
    )
    .map_err(|e| e.to_string())?;
    let mut config = NodeAgentConfig::new(&args.name);
    config.root_dir = root.join("agent");
    let agent = NodeAgent::new(Arc::new(client), Arc::new(runtime), config);
    let stop = CancellationToken::new();
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let s = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        s.cancel();
    });
    println!("node agent {} joining the cluster through its API server", args.name);
    println!("running; Ctrl-C to stop");
    let result = agent.run(stop).await.map_err(|e| format!("node agent {}: {e}", args.name));
    let _ = std::fs::remove_dir_all(&root);
    result
}
