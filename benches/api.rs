//! Api figures: `Api::<Pod>::get` latency of a typical pod, and memory per
//! stored Pod.
//!
//! `cargo bench -p orch-benches --bench api`

use std::sync::Arc;
use std::time::Instant;

use orch_benches::{median, report, resident_bytes, typical_pod};
use orch_core::{Api, Pod};
use orch_store::MemStore;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let pod = typical_pod();
    let json_bytes = serde_json::to_vec(&pod).expect("serializes").len();
    println!("typical pod: {json_bytes} bytes of JSON");

    // get latency
    let api: Api<Pod> = Api::namespaced(Arc::new(MemStore::new()), "default");
    rt.block_on(async {
        let created = api.create(&pod).await.expect("create");
        let mut with_status = created.clone();
        with_status.status = pod.status.clone();
        api.replace_status(&with_status).await.expect("status");
    });
    let name = pod.metadata.name.clone();
    let iterations = 200_000;
    let runs: Vec<f64> = (0..5)
        .map(|_| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    let got = api.get(&name).await.expect("get");
                    std::hint::black_box(got);
                }
                start.elapsed().as_nanos() as f64 / iterations as f64 / 1000.0
            })
        })
        .collect();
    report(
        "Api::<Pod>::get, typical pod (mean of 200k, median of 5)",
        median(runs),
        "us",
        Some((10.0, false)),
    );

    // create throughput, for context
    let store = Arc::new(MemStore::new());
    let api: Api<Pod> = Api::namespaced(store.clone(), "default");
    let n = 100_000;
    let before = resident_bytes();
    let start = Instant::now();
    rt.block_on(async {
        for i in 0..n {
            let mut p = pod.clone();
            p.metadata.name = format!("web-{i:06}");
            api.create(&p).await.expect("create");
        }
    });
    let elapsed = start.elapsed();
    report(
        "Api::<Pod>::create, typical pod, 1 writer",
        n as f64 / elapsed.as_secs_f64(),
        "ops/s",
        None,
    );
    let after = resident_bytes();
    if let (Some(b), Some(a)) = (before, after) {
        report(
            "memory per stored Pod (RSS delta / 100k pods, with history)",
            (a.saturating_sub(b)) as f64 / n as f64,
            "bytes",
            None,
        );
    }
    std::hint::black_box(&store);
}
