//! One member of a replicated orch store, serving etcd's v3 API — run three
//! for a cluster (etcd's flags):
//!
//! ```text
//! cargo run --release --example raft_store -- --name m1 \
//!     --listen-client 127.0.0.1:23791 --listen-peer 127.0.0.1:23801 \
//!     --initial-cluster m1=127.0.0.1:23801,m2=127.0.0.1:23802,m3=127.0.0.1:23803 \
//!     --data-dir /tmp/m1
//! ```
//!
//! and m2, m3 likewise; then `etcdctl --endpoints=127.0.0.1:23791 put k v`.
//! A one-entry `--initial-cluster` is a single member. Started again on its
//! data dir, a member recovers its snapshot and log and rejoins; a member
//! whose data dir was lost is refused by its peers. `etcdctl snapshot save
//! FILE` takes a backup; `--restore-snapshot FILE` starts a new cluster
//! from one. `etcdctl member add m4 --peer-urls=http://ADDR`, then m4
//! started with `--initial-cluster-state existing` (and all four members in
//! `--initial-cluster`), grows the cluster; `etcdctl member remove ID`
//! shrinks it. Ctrl-C (or SIGTERM) stops it
//! cleanly. Exit codes: 0 after a clean stop, 1 if it cannot start, 2 for
//! bad flags. `RUST_LOG` (e.g. `openraft=info,orch_store=debug`) turns on
//! logs on stderr.
//!
//! Failover follows openraft: when the leader dies or removes itself, the
//! others wait out its lease (`election_timeout_max`, 2 s) and an election
//! timeout (1–2 s), so writes pause for 3–4 s (longer after a split vote).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use orch_store::{MemberConfig, RaftOptions, RaftStore};

#[derive(Parser, Debug)]
#[command(about = "One member of a replicated orch store, serving etcd's v3 API")]
struct Args {
    /// This member's name; it must appear in --initial-cluster.
    #[arg(long)]
    name: String,
    /// Where clients (etcdctl, EtcdStore) connect: host:port.
    #[arg(long)]
    listen_client: SocketAddr,
    /// Where peers connect (by default this member's --initial-cluster
    /// address): host:port.
    #[arg(long)]
    listen_peer: Option<SocketAddr>,
    /// Every member's name and peer address: m1=host:port,m2=host:port,…
    #[arg(long)]
    initial_cluster: String,
    /// Where this member keeps its log, vote, snapshot and identity.
    #[arg(long)]
    data_dir: PathBuf,
    /// Restore a backup (`etcdctl snapshot save FILE`) into --data-dir,
    /// which must not hold a member yet; every member of the new cluster
    /// restores the same file (as etcd's `snapshot restore`).
    #[arg(long, value_name = "FILE")]
    restore_snapshot: Option<PathBuf>,
    /// `new`: bootstrap the cluster with the other members of
    /// --initial-cluster; `existing`: join a running cluster this member
    /// was added to (`etcdctl member add NAME --peer-urls=http://ADDR`).
    #[arg(long, value_parser = ["new", "existing"], default_value = "new")]
    initial_cluster_state: String,
    /// Log entries between two snapshots (etcd's --snapshot-count).
    #[arg(long, default_value_t = RaftOptions::default().snapshot_entries)]
    snapshot_count: u64,
}

async fn run(args: Args) -> Result<(), String> {
    let initial_cluster =
        MemberConfig::parse_initial_cluster(&args.initial_cluster).map_err(|e| e.to_string())?;
    if let Some(file) = &args.restore_snapshot {
        let backup = std::fs::read(file)
            .map_err(|e| format!("--restore-snapshot {}: {e}", file.display()))?;
        RaftStore::restore_backup(&backup, &args.data_dir).map_err(|e| e.to_string())?;
        println!("restored {} into {}", file.display(), args.data_dir.display());
    }
    let listener = tokio::net::TcpListener::bind(args.listen_client)
        .await
        .map_err(|e| format!("--listen-client {}: {e}", args.listen_client))?;
    let config = MemberConfig {
        name: args.name.clone(),
        initial_cluster,
        listen_peer: args.listen_peer,
        client_urls: vec![format!("http://{}", args.listen_client)],
        data_dir: args.data_dir,
        options: RaftOptions { snapshot_entries: args.snapshot_count, ..RaftOptions::default() },
        join_existing: args.initial_cluster_state == "existing",
    };
    let member = RaftStore::start_member(config).await.map_err(|e| e.to_string())?;
    println!(
        "member {} ({:x}) serving etcd's API on {}",
        args.name,
        member.id(),
        args.listen_client
    );
    let stop = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("warning: no SIGTERM handler: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let served = member.etcd_api().serve(listener, stop).await;
    println!("member {} stopping", args.name);
    member.shutdown().await;
    served.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    // Logs (openraft's and orch's) on stderr when RUST_LOG asks for them,
    // e.g. RUST_LOG=openraft=info,orch_store=debug.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
