//! MemStore throughput: single-writer puts, txn compare-and-swap, and watch
//! fan-out to 1,000 watchers with delivery latency.
//!
//! `cargo bench -p orch-benches --bench store`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use orch_benches::{median, percentile, rate, report};
use orch_core::store::{Compare, KeyRange, PutRequest, Store, TxnOp, TxnRequest, WatchRequest};
use orch_store::MemStore;

const VALUE_BYTES: usize = 256;
const RUNS: usize = 5;

fn keys(prefix: &str, n: usize) -> Vec<Bytes> {
    (0..n).map(|i| Bytes::from(format!("{prefix}{i:08}"))).collect()
}

async fn puts(ops: usize) -> f64 {
    let store = MemStore::new();
    let keys = keys("/bench/put/", 10_000);
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    let start = Instant::now();
    for i in 0..ops {
        store.put(PutRequest::new(keys[i % keys.len()].clone(), value.clone())).await.expect("put");
    }
    rate(ops as u64, start.elapsed())
}

async fn txn_cas(ops: usize) -> f64 {
    let store = MemStore::new();
    let keys = keys("/bench/cas/", 10_000);
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    // Each key's mod revision as last written; 0 = absent.
    let mut revisions = vec![0i64; keys.len()];
    let start = Instant::now();
    for i in 0..ops {
        let k = i % keys.len();
        let compare = if revisions[k] == 0 {
            Compare::absent(keys[k].clone())
        } else {
            Compare::mod_revision_is(keys[k].clone(), revisions[k])
        };
        let resp = store
            .txn(TxnRequest {
                compare: vec![compare],
                success: vec![TxnOp::Put(PutRequest::new(keys[k].clone(), value.clone()))],
                failure: vec![],
            })
            .await
            .expect("txn");
        assert!(resp.succeeded, "single writer: every CAS wins");
        revisions[k] = resp.header.revision;
    }
    rate(ops as u64, start.elapsed())
}

struct FanOut {
    events_per_second: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
}

/// One writer, `watchers` watchers on one prefix; `writes` puts, at most
/// `writes_per_second` (None: as fast as possible).
async fn fan_out(watchers: usize, writes: usize, writes_per_second: Option<u64>) -> FanOut {
    let store = Arc::new(MemStore::new());
    let base = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let mut stream = store
            .watch(WatchRequest::new(KeyRange::prefix("/bench/watch/"), 0))
            .await
            .expect("watch");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(writes);
            let mut last_at = Duration::ZERO;
            while latencies.len() < writes {
                let resp = match stream.next().await {
                    Some(Ok(r)) => r,
                    other => panic!("watch ended: {other:?}"),
                };
                let now = base.elapsed();
                for e in &resp.events {
                    let sent = u64::from_le_bytes(e.kv.value[..8].try_into().expect("8 bytes"));
                    latencies.push((now.as_nanos() as u64).saturating_sub(sent));
                }
                last_at = now;
            }
            (latencies, last_at)
        }));
    }
    let keys = keys("/bench/watch/", 100);
    let start = base.elapsed();
    let interval = writes_per_second.map(|r| Duration::from_nanos(1_000_000_000 / r));
    let mut ticker = interval.map(|i| {
        let mut t = tokio::time::interval(i);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    for i in 0..writes {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let mut value = vec![0u8; VALUE_BYTES];
        value[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
        store.put(PutRequest::new(keys[i % keys.len()].clone(), value)).await.expect("put");
        if ticker.is_none() && i % 64 == 63 {
            // Let watcher tasks run on this worker too.
            tokio::task::yield_now().await;
        }
    }
    let mut all = Vec::with_capacity(watchers * writes);
    let mut end = start;
    for t in tasks {
        let (lat, last) = t.await.expect("watcher task");
        all.extend(lat);
        end = end.max(last);
    }
    all.sort_unstable();
    FanOut {
        events_per_second: rate(all.len() as u64, end - start),
        p50_us: percentile(&all, 50.0) as f64 / 1000.0,
        p99_us: percentile(&all, 99.0) as f64 / 1000.0,
        p999_us: percentile(&all, 99.9) as f64 / 1000.0,
    }
}

fn main() {
    println!("MemStore, {} runs each (median); 2-core machine figures are noisy (±30 %)", RUNS);
    let single =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let put_rate = median((0..RUNS).map(|_| single.block_on(puts(500_000))).collect());
    report("put, 256 B values, 1 writer", put_rate, "ops/s", Some((500_000.0, true)));
    let cas_rate = median((0..RUNS).map(|_| single.block_on(txn_cas(500_000))).collect());
    report(
        "txn compare-and-swap, 256 B values, 1 writer",
        cas_rate,
        "ops/s",
        Some((300_000.0, true)),
    );
    drop(single);

    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut runs: Vec<FanOut> = (0..3).map(|_| multi.block_on(fan_out(1000, 2000, None))).collect();
    runs.sort_by(|a, b| a.events_per_second.total_cmp(&b.events_per_second));
    let m = &runs[1];
    report(
        "watch fan-out, 1 writer -> 1,000 watchers, unpaced",
        m.events_per_second,
        "events/s",
        Some((1_000_000.0, true)),
    );
    report("  delivery latency p50 (unpaced)", m.p50_us, "us", None);
    report("  delivery latency p99 (unpaced)", m.p99_us, "us", None);
    report("  delivery latency p99.9 (unpaced)", m.p999_us, "us", None);
    for writes_per_second in [1000, 2000] {
        let paced =
            multi.block_on(fan_out(1000, 3 * writes_per_second as usize, Some(writes_per_second)));
        let label =
            format!("watch fan-out, 1,000 watchers, writer paced at {writes_per_second} puts/s");
        report(&label, paced.events_per_second, "events/s", None);
        report("  delivery latency p50 (paced)", paced.p50_us, "us", None);
        report("  delivery latency p99 (paced)", paced.p99_us, "us", None);
        report("  delivery latency p99.9 (paced)", paced.p999_us, "us", None);
    }
}
