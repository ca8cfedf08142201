//! The same load through etcd's v3 gRPC API at a real etcd and at orch's
//! RaftStore — 1 member, then 3 members (3 etcd processes; 3 RaftStore
//! members, each with its own data dir, gRPC peer port and etcd API port,
//! on a runtime of their own in this process) — and, for 1 member, at a MemStore behind
//! `EtcdApiServer`; side by side in one run (etcd-client 0.21 for all,
//! 256-byte values, loopback, fsync on, data dirs on disk under
//! `target/`):
//!
//! * sequential put latency p50/p99 over 2,000 puts;
//! * concurrent put throughput: 64 tasks over 4 connections, 20,000 puts;
//! * watch delivery latency p99: from a put returning to its event
//!   arriving at a watcher (on a follower when there are 3 members), over
//!   1,000 puts.
//!
//! etcd and RaftStore run 3 rounds each, alternating (each round printed
//! as `target=<name> round=<i> members=<n> ...`); then each prints
//! `target=<name> members=<n> ...` with the median of its rounds, and a
//! `ratio=` line (RaftStore / etcd) compares those medians. Run: `cargo bench -p orch-benches --features etcd --bench etcd_api`.
//! Needs `etcd` on the PATH (Debian's `etcd-server`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, WatchOptions};
use orch_benches::{percentile, rate};
use orch_store::testing::EtcdProcess;
use orch_store::{EtcdApiServer, MemStore, MemberConfig, MemberInfo, RaftOptions, RaftStore};
use tokio::sync::Mutex;

const VALUE_BYTES: usize = 256;
const SEQUENTIAL_PUTS: usize = 2_000;
const CONCURRENT_PUTS: usize = 20_000;
const TASKS: usize = 64;
const CONNECTIONS: usize = 4;
const WATCHED_PUTS: usize = 1_000;
/// Every phase is bounded in time as well as in count.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// Rounds per target; each figure printed without `round=` is the median
/// over them.
const ROUNDS: usize = 3;

struct Figures {
    seq_p50_ms: f64,
    seq_p99_ms: f64,
    puts_per_s: f64,
    watch_p99_ms: f64,
}

fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

/// Drives the load through clients that each use all of `endpoints`
/// (etcd-client spreads calls over them, so with 3 members most go
/// through a follower, which forwards to the leader — for etcd as for
/// RaftStore).
async fn measure(endpoints: &[String]) -> Result<Figures, etcd_client::Error> {
    let value = vec![b'v'; VALUE_BYTES];
    let mut client = Client::connect(endpoints, None).await?;

    // Sequential puts.
    let mut lat = Vec::with_capacity(SEQUENTIAL_PUTS);
    let phase = Instant::now();
    for i in 0..SEQUENTIAL_PUTS {
        let t = Instant::now();
        client.put(format!("/bench/seq/{i}"), value.clone(), None).await?;
        lat.push(t.elapsed().as_nanos() as u64);
        if phase.elapsed() > PHASE_LIMIT {
            break;
        }
    }
    lat.sort_unstable();

    // Concurrent puts: 64 tasks over 4 connections.
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(Client::connect(endpoints, None).await?);
    }
    let per_task = CONCURRENT_PUTS / TASKS;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let mut c = clients[t % CONNECTIONS].clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                c.put(format!("/bench/conc/{t}/{i}"), value.clone(), None).await?;
                if start.elapsed() > PHASE_LIMIT {
                    return Ok(i + 1);
                }
            }
            Ok::<usize, etcd_client::Error>(per_task)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("put task")?;
    }
    let puts_per_s = rate(done as u64, start.elapsed());

    // Watch delivery: the time from a put returning to its event arriving.
    let arrived: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    // The watcher is on a follower when there is one (the same placement
    // for etcd and RaftStore): its events wait for the commit to reach it.
    let mut watcher = Client::connect([follower(endpoints).await?], None).await?;
    let mut stream =
        watcher.watch("/bench/watch/", Some(WatchOptions::new().with_prefix())).await?;
    // etcd-client returns before the server has registered the watch: wait
    // for its `created` answer, so that the first put is not missed.
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(Ok(Some(r))) if r.created() => {}
        other => panic!("the watch was not created: {other:?}"),
    }
    let seen = arrived.clone();
    let reader = tokio::spawn(async move {
        let mut count = 0;
        while count < WATCHED_PUTS {
            let Ok(Ok(Some(resp))) =
                tokio::time::timeout(Duration::from_secs(10), stream.message()).await
            else {
                return;
            };
            let now = Instant::now();
            let mut seen = seen.lock().await;
            for e in resp.events() {
                if e.event_type() == EventType::Put {
                    if let Some(kv) = e.kv() {
                        seen.insert(kv.mod_revision(), now);
                        count += 1;
                    }
                }
            }
        }
    });
    let mut returned = Vec::with_capacity(WATCHED_PUTS);
    for i in 0..WATCHED_PUTS {
        let r = client.put(format!("/bench/watch/{i}"), value.clone(), None).await?;
        let revision = r.header().map(|h| h.revision()).unwrap_or(0);
        returned.push((revision, Instant::now()));
    }
    let _ = reader.await;
    let seen = arrived.lock().await;
    let mut watch_lat: Vec<u64> = returned
        .iter()
        .filter_map(|(rev, t)| {
            seen.get(rev).map(|a| a.saturating_duration_since(*t).as_nanos() as u64)
        })
        .collect();
    assert_eq!(watch_lat.len(), WATCHED_PUTS, "every watched put arrived");
    watch_lat.sort_unstable();

    Ok(Figures {
        seq_p50_ms: ms(percentile(&lat, 50.0)),
        seq_p99_ms: ms(percentile(&lat, 99.0)),
        puts_per_s,
        watch_p99_ms: ms(percentile(&watch_lat, 99.0)),
    })
}

/// A follower's endpoint (the only endpoint for a single member).
async fn follower(endpoints: &[String]) -> Result<String, etcd_client::Error> {
    for endpoint in endpoints {
        let status = Client::connect([endpoint], None).await?.status().await?;
        let me = status.header().map(|h| h.member_id());
        if me != Some(status.leader()) {
            return Ok(endpoint.clone());
        }
    }
    Ok(endpoints[0].clone())
}

fn print(target: &str, members: usize, f: &Figures) {
    println!(
        "target={target} members={members} seq_put_p50_ms={:.3} seq_put_p99_ms={:.3} \
         puts_per_s={:.0} watch_p99_ms={:.3}",
        f.seq_p50_ms, f.seq_p99_ms, f.puts_per_s, f.watch_p99_ms
    );
}

fn print_ratio(target: &str, members: usize, f: &Figures, etcd: &Figures) {
    println!(
        "ratio={target}/etcd members={members} seq_put_p99={:.2} puts_per_s={:.2} watch_p99={:.2}",
        f.seq_p99_ms / etcd.seq_p99_ms,
        f.puts_per_s / etcd.puts_per_s,
        f.watch_p99_ms / etcd.watch_p99_ms
    );
}

/// The median of each figure over rounds.
fn median(rounds: &[Figures]) -> Figures {
    let mid = |f: fn(&Figures) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Figures {
        seq_p50_ms: mid(|f| f.seq_p50_ms),
        seq_p99_ms: mid(|f| f.seq_p99_ms),
        puts_per_s: mid(|f| f.puts_per_s),
        watch_p99_ms: mid(|f| f.watch_p99_ms),
    }
}

#[tokio::main]
async fn main() {
    // On disk (not a tmpfs), so that fsyncs cost what they cost.
    let target = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"));
    let _ = std::fs::create_dir_all(target);
    for members in [1, 3] {
        let etcd = EtcdProcess::start_cluster(members, Some(target))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir_in(target).expect("raft data dir");
        let (endpoints, cluster) = raft_members(members, dir.path());
        // Rounds alternate between the two, so that a slow spell of the
        // disk or the machine does not land on one target only.
        let (mut etcd_rounds, mut raft_rounds) = (Vec::new(), Vec::new());
        for round in 1..=ROUNDS {
            let e = measure(etcd.endpoints()).await.expect("etcd load");
            print(&format!("etcd round={round}"), members, &e);
            etcd_rounds.push(e);
            let r = measure(&endpoints).await.expect("raftstore load");
            print(&format!("raftstore round={round}"), members, &r);
            raft_rounds.push(r);
        }
        drop(etcd);
        tokio::task::spawn_blocking(move || cluster.stop()).await.expect("members stopped");
        let (etcd_figures, raft) = (median(&etcd_rounds), median(&raft_rounds));
        print("etcd", members, &etcd_figures);
        print("raftstore", members, &raft);
        print_ratio("raftstore", members, &raft, &etcd_figures);

        if members == 1 {
            let mem =
                measure(&[serve(Arc::new(MemStore::new())).await]).await.expect("memstore load");
            print("memstore", 1, &mem);
            print_ratio("memstore", 1, &mem, &etcd_figures);
        }
    }
}

/// `members` RaftStore members as etcd runs them: each with its own data
/// dir (fsync on), peer port (gRPC) and etcd API port, on a runtime of
/// their own (two worker threads, as a separate process would have — not
/// the load generator's). Returns their endpoints once every member knows
/// the leader, and a handle that stops them.
fn raft_members(members: usize, dir: &std::path::Path) -> (Vec<String>, RaftMembers) {
    let dir = dir.to_path_buf();
    let (ready, endpoints) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the members");
        runtime.block_on(async move {
            let mut peers = Vec::new();
            for i in 0..members {
                let port = orch_store::testing::free_loopback_port().expect("a loopback port");
                peers.push((format!("m{i}"), format!("127.0.0.1:{port}")));
            }
            let mut started = Vec::new();
            for (name, _) in &peers {
                let listener =
                    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
                let client = listener.local_addr().expect("bound address");
                let config = MemberConfig {
                    name: name.clone(),
                    initial_cluster: peers.clone(),
                    listen_peer: None,
                    client_urls: vec![format!("http://{client}")],
                    data_dir: dir.join(name),
                    options: RaftOptions::default(),
                    join_existing: false,
                };
                let member =
                    RaftStore::start_member(config).await.unwrap_or_else(|e| panic!("{e}"));
                tokio::spawn(member.etcd_api().serve(listener, std::future::pending()));
                started.push((member, format!("http://{client}")));
            }
            for (m, _) in &started {
                m.wait_for_leader().await.unwrap_or_else(|e| panic!("{e}"));
            }
            let (cluster, endpoints): (Vec<RaftStore>, Vec<String>) = started.into_iter().unzip();
            let _ = ready.send(endpoints);
            let _ = stopped.await;
            for m in &cluster {
                m.shutdown().await;
            }
        });
    });
    let endpoints = endpoints.recv().expect("the members started");
    (endpoints, RaftMembers { stop, thread })
}

/// Stops the members [`raft_members`] started.
struct RaftMembers {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl RaftMembers {
    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Serves `store` over etcd's API on a loopback port; returns the endpoint.
async fn serve(store: Arc<dyn orch_core::store::Store>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
    let addr = listener.local_addr().expect("bound address");
    let server = EtcdApiServer::new(store, MemberInfo::standalone("m1", addr));
    tokio::spawn(server.serve(listener, std::future::pending()));
    format!("http://{addr}")
}
