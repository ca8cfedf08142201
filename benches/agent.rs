//! Node agent figures with the process runtime: pod start latency (pod
//! bound → status Running) over 200 pods, one at a time; and the agent's
//! CPU use while idle with 100 running pods.
//!
//! `cargo bench -p orch-benches --bench agent`

use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_benches::{block_on_two_workers, bound_pod, percentile, report, time_pod_start};
use orch_core::api::{DeleteParams, ListParams, WatchParams};
use orch_core::kinds::pod::Container;
use orch_core::{Api, Pod};
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

fn pod(name: &str) -> Pod {
    let container = Container {
        name: "s".into(),
        image: "sleep".into(),
        args: vec!["3600".into()],
        ..Default::default()
    };
    bound_pod(name, container)
}

/// CPU time of this process (user + system), from /proc/self/stat.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<u64>().ok())
        .unwrap_or(100)
        .max(1);
    Some(Duration::from_millis(ticks * 1000 / hz))
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(MemStore::new());
    let runtime = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path())).expect("runtime");
    let stop = CancellationToken::new();
    let agent =
        NodeAgent::new(store.clone(), Arc::new(runtime.clone()), NodeAgentConfig::new("node-1"));
    let running_agent = tokio::spawn(agent.run(stop.clone()));
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let mut watch = pods.watch(&WatchParams::default(), "").await.expect("watch");

    // Start latency, one pod at a time.
    let mut latencies = Vec::new();
    for i in 0..200 {
        let name = format!("p{i:03}");
        latencies
            .push(time_pod_start(&pods, &mut watch, &pod(&name), Duration::from_secs(30)).await);
    }
    latencies.sort_unstable();
    report(
        "pod start latency (bound -> Running), p50, 200 pods",
        percentile(&latencies, 50.0) as f64 / 1000.0,
        "ms",
        None,
    );
    report(
        "pod start latency (bound -> Running), p99, 200 pods",
        percentile(&latencies, 99.0) as f64 / 1000.0,
        "ms",
        Some((50.0, false)),
    );

    // Idle: 100 pods running (delete 100), then measure CPU over 10 s.
    for i in 100..200 {
        let force = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
        let _ = pods.delete(&format!("p{i:03}"), &DeleteParams::default()).await;
        let _ = pods.delete(&format!("p{i:03}"), &force).await;
    }
    let wait = Instant::now();
    while runtime.running_pids().len() > 100 && wait.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // settle before measuring
    let (c0, t0) = (cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    if let (Some(c0), Some(c1)) = (c0, cpu_time()) {
        let pct = (c1 - c0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0;
        report(
            &format!("idle agent CPU with {} running pods", runtime.running_pids().len()),
            pct,
            "% core",
            Some((1.0, false)),
        );
    }

    for p in pods.list(&ListParams::default()).await.expect("list").items {
        let _ = pods.delete(&p.metadata.name, &DeleteParams::default()).await;
    }
    let wait = Instant::now();
    while !runtime.running_pids().is_empty() && wait.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    let _ = running_agent.await;
}

fn main() {
    block_on_two_workers(run());
}
