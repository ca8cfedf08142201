//! Api figures: `Api::<Pod>::get` latency of a typical pod, and memory per
//! stored Pod.
//!
//! `cargo bench -p orch-benches --bench api`

use std::sync::Arc;
use std::time::Instant;

use orch_benches::{median, report, resident_bytes};
use orch_core::{manifest, Api, Pod};
use orch_store::MemStore;

/// A typical pod as a ReplicaSet creates it and a node agent reports it.
const TYPICAL_POD: &str = r#"
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

fn typical_pod() -> Pod {
    let docs =
        manifest::parse(TYPICAL_POD, &manifest::Registry::builtin()).expect("typical pod parses");
    docs[0].parse().expect("typical pod is a Pod")
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
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
