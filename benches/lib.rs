//! Shared helpers of orch's benchmark binaries: timing, percentiles, and the
//! process's resident memory.

use std::time::Duration;

/// The `p`-th percentile (0–100) of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Operations per second.
pub fn rate(ops: u64, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64()
}

/// The median of some runs.
pub fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(|a, b| a.total_cmp(b));
    runs[runs.len() / 2]
}

/// The process's resident set size in bytes (Linux `/proc/self/status`),
/// `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Prints one figure against its floor, with a verdict.
pub fn report(name: &str, value: f64, unit: &str, floor: Option<(f64, bool)>) {
    match floor {
        Some((floor, higher_is_better)) => {
            let ok = if higher_is_better { value >= floor } else { value <= floor };
            let cmp = if higher_is_better { ">=" } else { "<=" };
            println!(
                "{name:<58} {value:>14.1} {unit:<9} (floor {cmp} {floor} {unit}: {})",
                if ok { "met" } else { "NOT MET" }
            );
        }
        None => println!("{name:<58} {value:>14.1} {unit}"),
    }
}

/// A typical pod as a ReplicaSet creates it and a node agent reports it:
/// labels, an owner reference, tolerations, probes, env, resources, status.
pub const TYPICAL_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-7d9f8c6b5-x2k4q
  namespace: default
  labels: {app: web, pod-template-hash: 7d9f8c6b5, tier: frontend}
  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9090"}
  ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f8c6b5, uid: 1b3c5e7f-0000-4000-8000-123456789abc, controller: true, blockOwnerDeletion: true}
spec:
  nodeName: node-2
  restartPolicy: Always
  terminationGracePeriodSeconds: 30
  schedulerName: default-scheduler
  tolerations:
    - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
    - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
  containers:
    - name: web
      image: myapp:1.4.0
      args: ["--listen=:8080"]
      ports: [{name: http, containerPort: 8080, protocol: TCP}]
      env:
        - {name: LOG_LEVEL, value: info}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
      resources:
        requests: {cpu: 250m, memory: 128Mi}
        limits: {cpu: 500m, memory: 256Mi}
      readinessProbe:
        httpGet: {path: /healthz, port: 8080}
        periodSeconds: 5
      livenessProbe:
        tcpSocket: {port: 8080}
        periodSeconds: 10
status:
  phase: Running
  hostIP: 10.0.0.2
  podIP: 127.0.1.7
  startTime: "2026-11-22T00:00:00Z"
  conditions:
    - {type: PodScheduled, status: "True", lastTransitionTime: "2026-11-22T00:00:00Z"}
    - {type: Initialized, status: "True", lastTransitionTime: "2026-11-22T00:00:01Z"}
    - {type: ContainersReady, status: "True", lastTransitionTime: "2026-11-22T00:00:03Z"}
    - {type: Ready, status: "True", lastTransitionTime: "2026-11-22T00:00:03Z"}
  containerStatuses:
    - name: web
      ready: true
      restartCount: 0
      image: myapp:1.4.0
      imageID: process://myapp:1.4.0
      containerID: process://3f2a9c
      started: true
      state: {running: {startedAt: "2026-11-22T00:00:02Z"}}
"#;

/// [`TYPICAL_POD`] as a Pod.
pub fn typical_pod() -> orch_core::Pod {
    let docs = orch_core::manifest::parse(TYPICAL_POD, &orch_core::manifest::Registry::builtin())
        .expect("typical pod parses");
    docs[0].parse().expect("typical pod is a Pod")
}

/// A Pod named `name` in `default`, already bound to `node-1`, with one
/// container and a 1 s grace period: what the agent benches start.
pub fn bound_pod(name: &str, container: orch_core::kinds::pod::Container) -> orch_core::Pod {
    orch_core::Pod {
        metadata: orch_core::ObjectMeta::named(name),
        spec: orch_core::kinds::pod::PodSpec {
            node_name: Some("node-1".into()),
            termination_grace_period_seconds: Some(1),
            containers: vec![container],
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Creates `pod` (bound to its node) and waits on `watch` — a watch on the
/// pods opened before — until it is seen `Running`; returns the time taken
/// in µs (the agent benches' start latency). Panics if it does not start
/// within `deadline`.
pub async fn time_pod_start(
    pods: &orch_core::Api<orch_core::Pod>,
    watch: &mut (impl futures::Stream<Item = orch_core::Result<orch_core::api::WatchEvent<orch_core::Pod>>>
              + Unpin),
    pod: &orch_core::Pod,
    deadline: Duration,
) -> u64 {
    use futures::StreamExt;
    use orch_core::api::WatchEvent;
    use orch_core::kinds::pod::PodPhase;
    let name = &pod.metadata.name;
    let t = std::time::Instant::now();
    pods.create(pod).await.expect("create");
    loop {
        match tokio::time::timeout(deadline, watch.next()).await {
            Ok(Some(Ok(WatchEvent::Modified(p))))
                if p.metadata.name == *name
                    && p.status.as_ref().and_then(|s| s.phase) == Some(PodPhase::Running) =>
            {
                return t.elapsed().as_micros() as u64
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("pod {name} did not start: {other:?}"),
        }
    }
}

/// Runs `future` to completion on a tokio runtime with two worker threads
/// (the machines' two cores), as the agent benches' `main`.
pub fn block_on_two_workers<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}
