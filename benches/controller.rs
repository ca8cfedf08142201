//! Controller-runtime figures: work queue throughput, the runner with a
//! no-op reconciler, the ReplicaSet controller creating 10,000 Pods, the
//! Job controller running 10,000 Pods of one Job to completion, and
//! informer cache memory per Pod.
//!
//! `cargo bench -p orch-benches --bench controller`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use orch_benches::{median, rate, report, resident_bytes, typical_pod};
use orch_controllers::{JobController, ReplicaSetController};
use orch_core::controller::{
    Action, Context, Controller, InformerFactory, ObjectKey, Reconciler, WorkQueue,
};
use orch_core::kinds::pod::{Container, PodSpec};
use orch_core::store::{KeyRange, RangeRequest, Store};
use orch_core::{Api, ConfigMap, Job, ObjectMeta, Pod, ReplicaSet};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

/// add (plus a duplicate add that dedup absorbs) + get + done, single thread.
async fn queue_ops(n: usize) -> f64 {
    let q: WorkQueue<ObjectKey> = WorkQueue::new();
    let keys: Vec<ObjectKey> =
        (0..1000).map(|i| ObjectKey::new("default", format!("obj-{i}"))).collect();
    let start = Instant::now();
    for i in 0..n {
        let k = &keys[i % keys.len()];
        q.add(k.clone());
        q.add(k.clone());
        let got = q.get().await.expect("an item");
        q.done(&got);
    }
    rate(n as u64, start.elapsed())
}

struct NoOp {
    count: AtomicU64,
    target: u64,
    done: tokio::sync::Notify,
    first: std::sync::Mutex<Option<Instant>>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[async_trait]
impl Reconciler for NoOp {
    type Object = ConfigMap;
    type Error = Never;
    async fn reconcile(&self, _obj: Arc<ConfigMap>, _ctx: &Context) -> Result<Action, Never> {
        if let Ok(mut first) = self.first.lock() {
            first.get_or_insert_with(Instant::now);
        }
        if self.count.fetch_add(1, Ordering::Relaxed) + 1 == self.target {
            self.done.notify_one();
        }
        Ok(Action::await_change())
    }
}

async fn runner_no_op(objects: usize, concurrency: usize) -> f64 {
    let store = Arc::new(MemStore::new());
    let api: Api<ConfigMap> = Api::namespaced(store.clone(), "default");
    for i in 0..objects {
        let cm =
            ConfigMap { metadata: ObjectMeta::named(format!("cm-{i:06}")), ..Default::default() };
        api.create(&cm).await.expect("create");
    }
    let factory = Arc::new(InformerFactory::new(store));
    let r = Arc::new(NoOp {
        count: AtomicU64::new(0),
        target: objects as u64,
        done: tokio::sync::Notify::new(),
        first: std::sync::Mutex::new(None),
    });
    let stop = CancellationToken::new();
    let done = r.done.notified();
    tokio::pin!(done);
    done.as_mut().enable();
    let run = tokio::spawn(
        Controller::<ConfigMap>::new(factory.clone())
            .concurrency(concurrency)
            .run(r.clone(), stop.clone()),
    );
    done.await;
    let end = Instant::now();
    let first = r.first.lock().ok().and_then(|f| *f).unwrap_or(end);
    stop.cancel();
    let _ = run.await;
    factory.shutdown();
    rate(objects as u64, end - first)
}

/// How many Pods the store holds in `default`.
async fn stored_pods(store: &MemStore) -> i64 {
    let prefix = KeyRange::prefix("/registry/core/pods/default/");
    let count = RangeRequest { count_only: true, ..RangeRequest::new(prefix) };
    store.range(count).await.expect("count").count
}

async fn replica_set_creates(pods: i32) -> f64 {
    let store = Arc::new(MemStore::new());
    let factory = Arc::new(InformerFactory::new(store.clone()));
    let stop = CancellationToken::new();
    let controller = Arc::new(ReplicaSetController::new(&factory));
    let run = tokio::spawn(
        ReplicaSetController::controller(factory.clone()).run(controller, stop.clone()),
    );
    factory.informer::<Pod>().cache().wait_ready().await;
    factory.informer::<ReplicaSet>().cache().wait_ready().await;
    let mut rs = ReplicaSet { metadata: ObjectMeta::named("big"), ..Default::default() };
    rs.spec.replicas = Some(pods);
    rs.spec.selector.match_labels.insert("app".into(), "big".into());
    rs.spec.template.metadata.labels.insert("app".into(), "big".into());
    rs.spec.template.spec = PodSpec {
        containers: vec![Container {
            name: "web".into(),
            image: "myapp:1.4.0".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let start = Instant::now();
    Api::<ReplicaSet>::namespaced(store.clone(), "default").create(&rs).await.expect("create");
    loop {
        let n = stored_pods(&store).await;
        if n >= i64::from(pods) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "only {n} pods after 120 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    stop.cancel();
    let _ = run.await;
    factory.shutdown();
    rate(pods as u64, elapsed)
}

/// A Job of `pods` completions at parallelism `pods`: (pods/s created,
/// pods/s run to the Job's Complete), with a stand-in for the node agents
/// that marks each Pod Succeeded as it appears (MemStore, no runtime).
async fn job_runs(pods: i32) -> (f64, f64) {
    let store = Arc::new(MemStore::new());
    let factory = Arc::new(InformerFactory::new(store.clone()));
    let stop = CancellationToken::new();
    let controller = Arc::new(JobController::new(&factory));
    let run =
        tokio::spawn(JobController::controller(factory.clone()).run(controller, stop.clone()));
    factory.informer::<Pod>().cache().wait_ready().await;
    factory.informer::<Job>().cache().wait_ready().await;
    let pods_api: Api<Pod> = Api::namespaced(store.clone(), "default");
    let complete_pods = {
        let api = pods_api.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut events = api.watch(&Default::default(), "").await.expect("watch");
            let succeeded = serde_json::json!({"status": {"phase": "Succeeded"}});
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => return,
                    e = events.next() => e,
                };
                match event {
                    Some(Ok(orch_core::api::WatchEvent::Added(p))) => {
                        let _ = api.patch_status(&p.metadata.name, &succeeded).await;
                    }
                    Some(_) => {}
                    None => return,
                }
            }
        })
    };
    let mut job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "big"},
        "spec": {"completions": pods, "parallelism": pods,
                 "template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "work", "image": "busybox"}]}}}
    }))
    .expect("a Job");
    job.metadata.namespace = "default".into();
    let jobs: Api<Job> = Api::namespaced(store.clone(), "default");
    let start = Instant::now();
    jobs.create(&job).await.expect("create");
    let mut created = None;
    loop {
        if created.is_none() && stored_pods(&store).await >= i64::from(pods) {
            created = Some(start.elapsed());
        }
        let status = jobs.get("big").await.expect("get").status.unwrap_or_default();
        if status.conditions.iter().any(|c| c.type_ == "Complete" && c.status == "True") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "not complete after 120 s: {status:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let finished = start.elapsed();
    stop.cancel();
    let _ = run.await;
    let _ = complete_pods.await;
    factory.shutdown();
    let created = created.unwrap_or(finished);
    (rate(pods as u64, created), rate(pods as u64, finished))
}

async fn informer_memory(pods: usize) -> Option<f64> {
    let store = Arc::new(MemStore::new());
    let api: Api<Pod> = Api::namespaced(store.clone(), "default");
    let template = typical_pod();
    for i in 0..pods {
        let mut p = template.clone();
        p.metadata.name = format!("web-{i:06}");
        api.create(&p).await.expect("create");
    }
    let before = resident_bytes()?;
    let factory = InformerFactory::new(store.clone());
    let informer = factory.informer::<Pod>();
    informer.cache().wait_ready().await;
    let after = resident_bytes()?;
    let per_pod = after.saturating_sub(before) as f64 / pods as f64;
    factory.shutdown();
    Some(per_pod)
}

fn main() {
    let single =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let q = median((0..5).map(|_| single.block_on(queue_ops(1_000_000))).collect());
    report(
        "work queue add (+dup add) + get + done, 1 thread",
        q,
        "ops/s",
        Some((1_000_000.0, true)),
    );

    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for concurrency in [1, 2] {
        let r =
            median((0..3).map(|_| multi.block_on(runner_no_op(100_000, concurrency))).collect());
        report(
            &format!("runner, no-op reconciler, 100k objects, concurrency {concurrency}"),
            r,
            "rec/s",
            Some((100_000.0, true)),
        );
    }
    let rs = median((0..3).map(|_| multi.block_on(replica_set_creates(10_000))).collect());
    report(
        "ReplicaSet controller: 10,000 pods of one ReplicaSet",
        rs,
        "pods/s",
        Some((20_000.0, true)),
    );
    let runs: Vec<(f64, f64)> = (0..3).map(|_| multi.block_on(job_runs(10_000))).collect();
    report(
        "Job controller: 10,000 pods of one Job created (parallelism 10,000)",
        median(runs.iter().map(|r| r.0).collect()),
        "pods/s",
        Some((10_000.0, true)),
    );
    report(
        "Job controller: the same 10,000 pods run to the Job's Complete",
        median(runs.iter().map(|r| r.1).collect()),
        "pods/s",
        None,
    );
    if let Some(bytes) = multi.block_on(informer_memory(100_000)) {
        report("informer cache memory per typical Pod (RSS delta, 100k)", bytes, "bytes", None);
    }
}
