//! The same load through etcd's v3 gRPC API at a real etcd and at orch's
//! `EtcdApiServer` — over a MemStore, and over a durable RaftStore of 1 and
//! 3 members (in one process; member 1 serves the API) — side by side in one run (etcd-client 0.21 for both,
//! 256-byte values, loopback; etcd with fsync on, data dir on disk under
//! `target/`):
//!
//! * sequential put latency p50/p99 over 2,000 puts;
//! * concurrent put throughput: 64 tasks over 4 connections, 20,000 puts;
//! * watch delivery latency p99: from a put returning to its event
//!   arriving at a watcher, over 1,000 puts.
//!
//! Each target prints `target=<name> members=<n> ...`, then `ratio=` lines
//! (target / etcd). Run: `cargo bench -p orch-benches --features etcd --bench etcd_api`.
//! Needs `etcd` on the PATH (Debian's `etcd-server`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, WatchOptions};
use orch_benches::{percentile, rate};
use orch_store::{EtcdApiServer, EtcdProcess, MemStore, MemberInfo, RaftStore};
use tokio::sync::Mutex;

const VALUE_BYTES: usize = 256;
const SEQUENTIAL_PUTS: usize = 2_000;
const CONCURRENT_PUTS: usize = 20_000;
const TASKS: usize = 64;
const CONNECTIONS: usize = 4;
const WATCHED_PUTS: usize = 1_000;
/// Every phase is bounded in time as well as in count.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

struct Figures {
    seq_p50_ms: f64,
    seq_p99_ms: f64,
    puts_per_s: f64,
    watch_p99_ms: f64,
}

fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

async fn measure(endpoint: &str) -> Result<Figures, etcd_client::Error> {
    let value = vec![b'v'; VALUE_BYTES];
    let mut client = Client::connect([endpoint], None).await?;

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
        clients.push(Client::connect([endpoint], None).await?);
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
    let mut watcher = Client::connect([endpoint], None).await?;
    let mut stream =
        watcher.watch("/bench/watch/", Some(WatchOptions::new().with_prefix())).await?;
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

#[tokio::main]
async fn main() {
    // On disk (not a tmpfs), so that etcd's fsyncs cost what they cost.
    let target = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"));
    let _ = std::fs::create_dir_all(target);
    let etcd = EtcdProcess::start(Some(target)).await.unwrap_or_else(|e| panic!("{e}"));
    let etcd_figures = measure(etcd.endpoint()).await.expect("etcd load");
    drop(etcd);
    print("etcd", 1, &etcd_figures);

    let mem = measure(&serve(Arc::new(MemStore::new())).await).await.expect("memstore load");
    print("memstore", 1, &mem);
    print_ratio("memstore", 1, &mem, &etcd_figures);

    for members in [1, 3] {
        let dir = tempfile::tempdir_in(target).expect("raft data dir");
        let cluster = RaftStore::in_process_durable(members, dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let endpoint = serve(Arc::new(cluster[0].clone())).await;
        let raft = measure(&endpoint).await.expect("raftstore load");
        print("raftstore", members, &raft);
        if members == 1 {
            print_ratio("raftstore", members, &raft, &etcd_figures);
        }
        for m in &cluster {
            m.shutdown().await;
        }
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
