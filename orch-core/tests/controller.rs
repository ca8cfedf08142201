//! The controller runtime over MemStore: watcher relists, shared informers,
//! the runner's guarantees, leader election, events and finalizers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use orch_core::api::{DeleteParams, ListParams};
use orch_core::controller::{
    finalizer, metrics, object_reference, watcher, Action, Context, Controller, ControllerMetrics,
    EventRecorder, EventType, FinalizerEvent, InformerFactory, LeaderElectionConfig, LeaderElector,
    ObjectKey, Reconciler, WatcherConfig, WatcherEvent, WorkQueue,
};
use orch_core::kinds::pod::{Container, PodSpec};
use orch_core::store::{KeyRange, RangeRequest, Store};
use orch_core::testing::{wait_until, FaultyStore};
use orch_core::{Api, ConfigMap, Error, Event, Lease, ObjectMeta, OwnerReference, Pod, ReplicaSet};
use orch_store::{MemStore, MemStoreConfig};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(20);

fn config_map(name: &str) -> ConfigMap {
    ConfigMap { metadata: ObjectMeta::named(name), ..Default::default() }
}

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name),
        spec: PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: "i".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn the_watcher_lists_watches_and_relists_after_compaction() {
    let store = Arc::new(MemStore::with_config(MemStoreConfig::default().watch_buffer_batches(1)));
    let api: Api<ConfigMap> = Api::namespaced(store.clone(), "default");
    api.create(&config_map("a")).await.unwrap();
    let mut events = watcher(api.clone(), WatcherConfig::default());
    match tokio::time::timeout(DEADLINE, events.next()).await.unwrap() {
        Some(Ok(WatcherEvent::Restarted(items))) => assert_eq!(items.len(), 1),
        other => panic!("{other:?}"),
    }
    api.create(&config_map("b")).await.unwrap();
    match tokio::time::timeout(DEADLINE, events.next()).await.unwrap() {
        Some(Ok(WatcherEvent::Applied(cm))) => assert_eq!(cm.metadata.name, "b"),
        other => panic!("{other:?}"),
    }
    // Fall behind by more than the watch buffer, then lose the history.
    for i in 0..20 {
        api.create(&config_map(&format!("c{i}"))).await.unwrap();
    }
    store.compact(store.revision()).await.unwrap();
    // The watcher recovers with a fresh, complete list.
    let recovered = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.next().await {
                Some(Ok(WatcherEvent::Restarted(items))) => return items,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("a relist in time");
    assert_eq!(recovered.len(), 22);
}

#[tokio::test]
async fn informers_are_shared_one_watch_per_kind() {
    let store = Arc::new(MemStore::new());
    let factory = InformerFactory::new(store.clone());
    let a = factory.informer::<ConfigMap>();
    let b = factory.informer::<ConfigMap>();
    a.cache().wait_ready().await;
    wait_until("the informer's watch to be in sync", DEADLINE, || async {
        store.synced_watchers() == 1
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(store.clone(), "default");
    api.create(&config_map("x")).await.unwrap();
    wait_until("both handles to see x", DEADLINE, || async {
        b.cache().get(&ObjectKey::new("default", "x")).is_some()
    })
    .await;
    let _pods = factory.informer::<Pod>();
    wait_until("a second kind gets its own watch", DEADLINE, || async {
        store.synced_watchers() == 2
    })
    .await;
    assert_eq!(store.synced_watchers(), 2);
    factory.shutdown();
    wait_until("watches to end after shutdown", DEADLINE, || async {
        store.synced_watchers() == 0
    })
    .await;
}

/// Counts reconciles per key and checks that none runs twice at once.
struct Recorder {
    in_flight: Mutex<HashSet<ObjectKey>>,
    seen: Mutex<Vec<ObjectKey>>,
    overlaps: AtomicUsize,
    fail_first: AtomicBool,
    slow: Duration,
}

impl Recorder {
    fn new(slow: Duration) -> Arc<Self> {
        Arc::new(Recorder {
            in_flight: Mutex::new(HashSet::new()),
            seen: Mutex::new(Vec::new()),
            overlaps: AtomicUsize::new(0),
            fail_first: AtomicBool::new(false),
            slow,
        })
    }

    fn count(&self, name: &str) -> usize {
        self.seen.lock().iter().filter(|k| k.name == name).count()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure")]
struct Injected;

#[async_trait]
impl Reconciler for Recorder {
    type Object = ReplicaSet;
    type Error = Injected;

    async fn reconcile(&self, obj: Arc<ReplicaSet>, ctx: &Context) -> Result<Action, Injected> {
        let key = ObjectKey::of(&*obj);
        assert_eq!(key, ctx.key);
        if !self.in_flight.lock().insert(key.clone()) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        tokio::time::sleep(self.slow).await;
        self.in_flight.lock().remove(&key);
        self.seen.lock().push(key);
        if self.fail_first.swap(false, Ordering::SeqCst) {
            return Err(Injected);
        }
        Ok(Action::await_change())
    }
}

fn replica_set(name: &str) -> ReplicaSet {
    let mut rs = ReplicaSet { metadata: ObjectMeta::named(name), ..Default::default() };
    rs.spec.selector.match_labels.insert("app".into(), name.into());
    rs.spec.template.metadata.labels.insert("app".into(), name.into());
    rs.spec.template.spec = pod("t").spec;
    rs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_reconciles_owners_of_changed_children_and_never_one_key_twice_at_once() {
    let store = Arc::new(MemStore::new());
    let factory = Arc::new(InformerFactory::new(store.clone()));
    let rs_api: Api<ReplicaSet> = Api::namespaced(store.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let owner = rs_api.create(&replica_set("web")).await.unwrap();
    rs_api.create(&replica_set("db")).await.unwrap();

    let recorder = Recorder::new(Duration::from_millis(20));
    recorder.fail_first.store(true, Ordering::SeqCst);
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(ControllerMetrics::register(&mut registry));
    let stop = CancellationToken::new();
    let controller = Controller::<ReplicaSet>::new(factory.clone())
        .owns::<Pod>()
        .concurrency(4)
        .metrics(metrics.clone());
    let run = tokio::spawn(controller.run(recorder.clone(), stop.clone()));

    wait_until("both ReplicaSets reconciled", DEADLINE, || async {
        recorder.count("web") >= 1 && recorder.count("db") >= 1
    })
    .await;
    // The injected failure was retried with backoff.
    wait_until("the failed key to be retried", DEADLINE, || async {
        recorder.seen.lock().len() >= 3
    })
    .await;

    // Child events map to the owner through its owner reference.
    let before = recorder.count("web");
    let mut child = pod("web-x");
    child.metadata.owner_references.push(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "web".into(),
        uid: owner.metadata.uid.clone(),
        controller: Some(true),
        block_owner_deletion: None,
    });
    pods.create(&child).await.unwrap();
    wait_until("the owner reconciled after its child changed", DEADLINE, || async {
        recorder.count("web") > before
    })
    .await;

    // A burst of changes to one key never runs it concurrently.
    for i in 0..30 {
        rs_api
            .patch("web", &serde_json::json!({"metadata": {"labels": {"n": i.to_string()}}}))
            .await
            .unwrap();
    }
    let burst_start = recorder.count("web");
    wait_until("the burst to be reconciled", DEADLINE, || async {
        recorder.count("web") > burst_start
    })
    .await;
    assert_eq!(recorder.overlaps.load(Ordering::SeqCst), 0);

    // Metrics in Prometheus text format.
    let text = metrics::encode_text(&registry);
    assert!(text.contains("orch_controller_reconcile_total{controller=\"replicaset\"}"), "{text}");
    assert!(
        text.contains("orch_controller_reconcile_errors_total{controller=\"replicaset\"} 1"),
        "{text}"
    );
    assert!(text.contains("workqueue_work_duration_seconds_count{name=\"replicaset\"}"), "{text}");
    assert!(text.contains("workqueue_retries_total{name=\"replicaset\"} 1"), "{text}");
    assert!(text.contains("workqueue_depth{name=\"replicaset\"} "), "{text}");
    assert!(text.contains("workqueue_adds_total{name=\"replicaset\"}"), "{text}");

    stop.cancel();
    tokio::time::timeout(DEADLINE, run).await.expect("run returns after shutdown").unwrap();
    factory.shutdown();
}

/// A reconciler that blocks until released, to observe shutdown.
struct Blocking {
    started: AtomicUsize,
    finished: AtomicUsize,
    release: tokio::sync::Notify,
}

#[async_trait]
impl Reconciler for Blocking {
    type Object = ReplicaSet;
    type Error = Injected;

    async fn reconcile(&self, _obj: Arc<ReplicaSet>, _ctx: &Context) -> Result<Action, Injected> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.release.notified().await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(Action::requeue(Duration::from_millis(1)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_reconciles_finish_and_starts_no_new_ones() {
    let store = Arc::new(MemStore::new());
    let factory = Arc::new(InformerFactory::new(store.clone()));
    let rs_api: Api<ReplicaSet> = Api::namespaced(store.clone(), "default");
    rs_api.create(&replica_set("web")).await.unwrap();
    let r = Arc::new(Blocking {
        started: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        release: tokio::sync::Notify::new(),
    });
    let stop = CancellationToken::new();
    let run =
        tokio::spawn(Controller::<ReplicaSet>::new(factory.clone()).run(r.clone(), stop.clone()));
    wait_until("a reconcile to start", DEADLINE, || async {
        r.started.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.cancel();
    tokio::task::yield_now().await;
    assert!(!run.is_finished(), "run waits for the reconcile in flight");
    r.release.notify_one();
    tokio::time::timeout(DEADLINE, run).await.expect("run returns").unwrap();
    assert_eq!(r.finished.load(Ordering::SeqCst), 1);
    assert_eq!(
        r.started.load(Ordering::SeqCst),
        1,
        "no reconcile started after shutdown (the requeue was dropped)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_never_hands_out_one_key_twice_at_once() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(64));
    let strategy = (proptest::collection::vec(0u8..6, 1..200), 1usize..6);
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |(adds, workers)| {
        let outcome = tokio::task::block_in_place(|| {
            handle.block_on(async {
                let q: WorkQueue<u8> = WorkQueue::new();
                let in_flight = Arc::new(Mutex::new(HashSet::new()));
                let violations = Arc::new(AtomicUsize::new(0));
                let processed = Arc::new(Mutex::new(Vec::new()));
                let mut tasks = Vec::new();
                for _ in 0..workers {
                    let (q, in_flight, violations, processed) =
                        (q.clone(), in_flight.clone(), violations.clone(), processed.clone());
                    tasks.push(tokio::spawn(async move {
                        while let Some(k) = q.get().await {
                            if !in_flight.lock().insert(k) {
                                violations.fetch_add(1, Ordering::SeqCst);
                            }
                            tokio::task::yield_now().await;
                            in_flight.lock().remove(&k);
                            processed.lock().push(k);
                            q.done(&k);
                        }
                    }));
                }
                for (i, k) in adds.iter().enumerate() {
                    q.add(*k);
                    if i % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                // Every key added is processed after its last add.
                let keys: HashSet<u8> = adds.iter().copied().collect();
                let start = std::time::Instant::now();
                while !(q.is_empty() && q.in_flight() == 0) {
                    if start.elapsed() > DEADLINE {
                        return Err("queue did not drain".to_owned());
                    }
                    tokio::task::yield_now().await;
                }
                q.shut_down();
                for t in tasks {
                    let _ = t.await;
                }
                let done: HashSet<u8> = processed.lock().iter().copied().collect();
                if done != keys {
                    return Err(format!("processed {done:?}, added {keys:?}"));
                }
                match violations.load(Ordering::SeqCst) {
                    0 => Ok(()),
                    n => Err(format!("{n} concurrent hand-outs of one key")),
                }
            })
        });
        outcome.map_err(proptest::test_runner::TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---- leader election

/// (instance, started leading, stopped leading)
type ActivePeriod = (String, Instant, Option<Instant>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_has_no_overlap_of_active_periods() {
    let shared = Arc::new(MemStore::new());
    let config = LeaderElectionConfig {
        lease_duration: Duration::from_millis(600),
        renew_deadline: Duration::from_millis(400),
        retry_period: Duration::from_millis(50),
    };
    let periods: Arc<Mutex<Vec<ActivePeriod>>> = Arc::new(Mutex::new(Vec::new()));
    let shutdown = CancellationToken::new();
    let mut stores = Vec::new();
    let mut runs = Vec::new();
    for id in ["a", "b"] {
        let store = Arc::new(FaultyStore::new(shared.clone()));
        stores.push(store.clone());
        let api: Api<Lease> = Api::namespaced(store, "kube-system");
        let elector = LeaderElector::new(api, "controllers", id, config);
        let periods = periods.clone();
        let shutdown = shutdown.clone();
        runs.push(tokio::spawn(async move {
            elector
                .run(shutdown, move |leading| {
                    let periods = periods.clone();
                    async move {
                        let index = {
                            let mut p = periods.lock();
                            p.push((id.to_owned(), Instant::now(), None));
                            p.len() - 1
                        };
                        leading.cancelled().await;
                        periods.lock()[index].2 = Some(Instant::now());
                    }
                })
                .await
        }));
    }
    wait_until("someone to lead", DEADLINE, || async { periods.lock().len() == 1 }).await;
    let first = periods.lock()[0].0.clone();
    let first_index = if first == "a" { 0 } else { 1 };
    // Partition the leader: it must step down; the other takes over after it.
    stores[first_index].cut();
    wait_until("the other instance to lead", DEADLINE, || async { periods.lock().len() == 2 })
        .await;
    stores[first_index].heal();
    // Heal and let the new leader keep the lease for a while.
    tokio::time::sleep(config.lease_duration * 2).await;
    shutdown.cancel();
    for r in runs {
        tokio::time::timeout(DEADLINE, r).await.expect("elector stops").unwrap();
    }
    let p = periods.lock().clone();
    assert_eq!(p.len(), 2, "one failover, no flapping: {p:?}");
    assert_ne!(p[0].0, p[1].0);
    let first_end = p[0].2.expect("the first leader stopped");
    assert!(first_end <= p[1].1, "active periods overlap: {p:?}");
    let lease: Lease =
        Api::namespaced(shared.clone(), "kube-system").get("controllers").await.unwrap();
    assert_eq!(lease.spec.lease_transitions, Some(1));
    assert_eq!(lease.spec.holder_identity, None, "released on shutdown");
}

// ---- events

#[tokio::test]
async fn repeated_events_are_aggregated_into_one_object() {
    let store = Arc::new(MemStore::new());
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let p = pods.create(&pod("web-0")).await.unwrap();
    let recorder = EventRecorder::new(store.clone(), "kubelet", Some("node-1"));
    let reference = object_reference(&p);
    for _ in 0..20 {
        recorder
            .record(
                &reference,
                EventType::Warning,
                "BackOff",
                "Back-off restarting failed container",
            )
            .await
            .unwrap()
            .expect("within the spam filter's burst");
    }
    recorder
        .record(&reference, EventType::Normal, "Started", "Started container web")
        .await
        .unwrap()
        .expect("within the spam filter's burst");
    let events: Api<Event> = Api::namespaced(store, "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2, "one object per distinct event");
    let backoff = list.items.iter().find(|e| e.reason.as_deref() == Some("BackOff")).unwrap();
    assert_eq!(backoff.count, Some(20));
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));
    assert_eq!(backoff.involved_object.uid, p.metadata.uid);
    assert_eq!(backoff.source.as_ref().unwrap().host.as_deref(), Some("node-1"));
    let by_object = events
        .list(&ListParams::default().fields("involvedObject.name=web-0,reason=Started"))
        .await
        .unwrap();
    assert_eq!(by_object.items.len(), 1);
}

#[tokio::test]
async fn the_spam_filter_lets_25_events_per_object_through_then_one_per_refill() {
    let store = Arc::new(MemStore::new());
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let (noisy, quiet) =
        (pods.create(&pod("noisy")).await.unwrap(), pods.create(&pod("quiet")).await.unwrap());
    let recorder = EventRecorder::new(store.clone(), "kubelet", Some("node-1"));
    let (noisy, quiet) = (object_reference(&noisy), object_reference(&quiet));
    let mut written = 0;
    for i in 0..40 {
        let message = format!("attempt {i}");
        let r = recorder.record(&noisy, EventType::Warning, "BackOff", &message);
        written += usize::from(r.await.unwrap().is_some());
    }
    assert_eq!(written, orch_core::controller::SPAM_BURST as usize);
    // Another object has a bucket of its own.
    let other = recorder.record(&quiet, EventType::Normal, "Started", "ok");
    assert!(other.await.unwrap().is_some());
    let events: Api<Event> = Api::namespaced(store.clone(), "default");
    assert_eq!(events.list(&ListParams::default()).await.unwrap().items.len(), 26);

    // A bucket refills: one event per refill period.
    let refilling =
        EventRecorder::new(store, "kubelet", None).spam_filter(1, Duration::from_millis(200));
    let again = || refilling.record(&quiet, EventType::Normal, "Pulled", "pulled");
    assert!(again().await.unwrap().is_some());
    assert!(again().await.unwrap().is_none(), "the bucket is empty");
    wait_until("the bucket to refill", Duration::from_secs(10), || async {
        again().await.unwrap().is_some()
    })
    .await;
}

#[tokio::test]
async fn events_expire_after_their_ttl_through_a_store_lease() {
    let store = Arc::new(MemStore::new());
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let p = pods.create(&pod("web-0")).await.unwrap();
    let recorder =
        EventRecorder::new(store.clone(), "kubelet", None).event_ttl(Some(Duration::from_secs(1)));
    let event = recorder
        .record(&object_reference(&p), EventType::Normal, "Started", "Started container web")
        .await
        .unwrap()
        .unwrap();
    // Attached to a lease in the store, as kube-apiserver writes Events.
    use orch_core::Resource;
    let key = Event::api_resource().key("default", &event.metadata.name);
    let kv = store.range(RangeRequest::new(KeyRange::key(key.clone()))).await.unwrap();
    assert_ne!(kv.kvs[0].lease, 0, "the Event's key has a lease");
    let events: Api<Event> = Api::namespaced(store.clone(), "default");
    wait_until("the Event to expire", Duration::from_secs(20), || async {
        events.get_opt(&event.metadata.name).await.unwrap().is_none()
    })
    .await;
    // The Pod, written without a TTL, stays.
    assert!(pods.get_opt("web-0").await.unwrap().is_some());
}

// ---- finalizers

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ApiError(#[from] Error);

#[tokio::test]
async fn the_finalizer_helper_adds_then_cleans_up_then_removes() {
    let store = Arc::new(MemStore::new());
    let api: Api<ConfigMap> = Api::namespaced(store, "default");
    api.create(&config_map("cfg")).await.unwrap();
    let name = "example.com/cleanup";
    let cleaned = Arc::new(AtomicUsize::new(0));
    let applied = Arc::new(AtomicUsize::new(0));
    let step = |obj: ConfigMap| {
        let (api, cleaned, applied) = (api.clone(), cleaned.clone(), applied.clone());
        async move {
            finalizer(&api, name, Arc::new(obj), |event| async move {
                match event {
                    FinalizerEvent::Apply(_) => applied.fetch_add(1, Ordering::SeqCst),
                    FinalizerEvent::Cleanup(_) => cleaned.fetch_add(1, Ordering::SeqCst),
                };
                Ok::<_, ApiError>(Action::await_change())
            })
            .await
            .unwrap()
        }
    };
    step(api.get("cfg").await.unwrap()).await;
    assert_eq!(api.get("cfg").await.unwrap().metadata.finalizers, [name], "added before acting");
    assert_eq!(applied.load(Ordering::SeqCst), 0);
    step(api.get("cfg").await.unwrap()).await;
    assert_eq!(applied.load(Ordering::SeqCst), 1);

    let outcome = api.delete("cfg", &DeleteParams::default()).await.unwrap();
    assert!(!outcome.is_deleted(), "the finalizer holds deletion");
    step(api.get("cfg").await.unwrap()).await;
    assert_eq!(cleaned.load(Ordering::SeqCst), 1);
    assert!(
        api.get_opt("cfg").await.unwrap().is_none(),
        "removing the finalizer removed the object"
    );
}
