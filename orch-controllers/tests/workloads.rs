//! The built-in workload controllers on MemStore, with a stand-in node agent
//! that binds every Pod and reports it Running and Ready — or, for images
//! named `broken:*`, Running but never Ready.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orch_controllers::deployment::{rollback, REVISION_ANNOTATION};
use orch_controllers::pod_readiness::{deletion_order, is_ready};
use orch_controllers::{DeploymentController, GarbageCollector, ReplicaSetController};
use orch_core::api::{DeleteParams, ListParams, WatchEvent, WatchParams};
use orch_core::controller::{watcher, InformerFactory, WatcherConfig, WatcherEvent};
use orch_core::kinds::deployment::{
    DeploymentStrategy, DeploymentStrategyType, RollingUpdateDeployment,
};
use orch_core::kinds::pod::{
    Container, PodCondition, PodPhase, PodSpec, PodStatus, PodTemplateSpec,
};
use orch_core::{Api, Deployment, Event, IntOrString, ObjectMeta, Pod, ReplicaSet, Time};
use orch_store::MemStore;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

struct Cluster {
    store: Arc<MemStore>,
    factory: Arc<InformerFactory>,
    stop: CancellationToken,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Cluster {
    fn start() -> Cluster {
        let store = Arc::new(MemStore::new());
        let stop = CancellationToken::new();
        let factory = Arc::new(InformerFactory::new(store.clone()));
        let rs = Arc::new(ReplicaSetController::new(&factory));
        tokio::spawn(
            ReplicaSetController::controller(factory.clone()).concurrency(2).run(rs, stop.clone()),
        );
        let d = Arc::new(DeploymentController::new(&factory));
        tokio::spawn(DeploymentController::controller(factory.clone()).run(d, stop.clone()));
        tokio::spawn(GarbageCollector::new(factory.clone()).builtin_kinds().run(stop.clone()));
        tokio::spawn(fake_node_agent(store.clone(), stop.clone()));
        let f = factory.clone();
        let s = stop.clone();
        tokio::spawn(async move {
            s.cancelled().await;
            f.shutdown();
        });
        Cluster { store, factory, stop }
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.store.clone(), "default")
    }
    fn replica_sets(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.store.clone(), "default")
    }
    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.store.clone(), "default")
    }

    async fn pod_list(&self) -> Vec<Pod> {
        self.pods().list(&ListParams::default()).await.unwrap().items
    }

    /// Polls `check` against the store until it holds; fails after the deadline.
    async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = std::time::Instant::now();
        while !check().await {
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Binds each new Pod to `node-1` and reports it Running and Ready (or, for
/// `broken:*` images, Running and not Ready); finishes graceful deletions.
async fn fake_node_agent(store: Arc<MemStore>, stop: CancellationToken) {
    let api: Api<Pod> = Api::all(store);
    let mut events = watcher(api.clone(), WatcherConfig::default());
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = events.next() => e,
        };
        let pods = match event {
            Some(Ok(WatcherEvent::Restarted(pods))) => pods,
            Some(Ok(WatcherEvent::Applied(pod))) => vec![pod],
            _ => continue,
        };
        for pod in pods {
            let ns_api: Api<Pod> = Api::namespaced(api.store().clone(), &pod.metadata.namespace);
            if pod.metadata.is_deleting() {
                // Graceful deletion: "stop the containers", then remove the pod.
                let force = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
                let _ = ns_api.delete(&pod.metadata.name, &force).await;
                continue;
            }
            if pod.status.as_ref().and_then(|s| s.phase).is_some() {
                continue;
            }
            let broken = pod.spec.containers.iter().any(|c| c.image.starts_with("broken"));
            let _ =
                ns_api.patch(&pod.metadata.name, &json!({"spec": {"nodeName": "node-1"}})).await;
            let status = PodStatus {
                phase: Some(PodPhase::Running),
                conditions: vec![PodCondition {
                    type_: "Ready".into(),
                    status: if broken { "False" } else { "True" }.into(),
                    last_transition_time: Some(Time::now()),
                    ..Default::default()
                }],
                pod_ip: Some("127.0.0.2".into()),
                ..Default::default()
            };
            let _ = ns_api.patch_status(&pod.metadata.name, &json!({ "status": status })).await;
        }
    }
}

fn template(app: &str, image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: ObjectMeta::default().with_label("app", app),
        spec: PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: image.into(),
                ..Default::default()
            }],
            ..Default::default()
        },
    }
}

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    let mut rs = ReplicaSet { metadata: ObjectMeta::named(name), ..Default::default() };
    rs.spec.replicas = Some(replicas);
    rs.spec.selector.match_labels.insert("app".into(), name.into());
    rs.spec.template = template(name, "myapp:1.4.0");
    rs
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    let mut d = Deployment { metadata: ObjectMeta::named(name), ..Default::default() };
    d.spec.replicas = Some(replicas);
    d.spec.selector.match_labels.insert("app".into(), name.into());
    d.spec.template = template(name, image);
    d
}

fn owned_by(pod: &Pod, uid: &str) -> bool {
    pod.metadata.controller_owner().is_some_and(|o| o.uid == uid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_scale_up_and_down_and_replace_deleted_pods() {
    let c = Cluster::start();
    let rs = c.replica_sets().create(&replica_set("web", 3)).await.unwrap();
    let uid = rs.metadata.uid.clone();
    c.until("3 ready pods and status", || async {
        let rs = c.replica_sets().get("web").await.unwrap();
        let s = rs.status.unwrap_or_default();
        s.replicas == 3
            && s.ready_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.observed_generation == Some(1)
    })
    .await;
    let pods = c.pod_list().await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert!(p.metadata.name.starts_with("web-"));
        let owner = p.metadata.controller_owner().unwrap();
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("ReplicaSet", uid.as_str()));
        assert_eq!(p.metadata.labels["app"], "web");
    }

    c.replica_sets().patch("web", &json!({"spec": {"replicas": 5}})).await.unwrap();
    c.until("5 pods", || async { c.pod_list().await.iter().filter(|p| is_ready(p)).count() == 5 })
        .await;

    // A deleted pod is replaced.
    let victim = c.pod_list().await[0].metadata.name.clone();
    c.pods().delete(&victim, &DeleteParams::default()).await.unwrap();
    c.until("a replacement", || async {
        let pods = c.pod_list().await;
        pods.len() == 5
            && pods.iter().all(|p| p.metadata.name != victim)
            && pods.iter().all(is_ready)
    })
    .await;

    c.replica_sets().patch("web", &json!({"spec": {"replicas": 2}})).await.unwrap();
    c.until("2 pods and status", || async {
        let s = c.replica_sets().get("web").await.unwrap().status.unwrap_or_default();
        c.pod_list().await.len() == 2 && s.replicas == 2 && s.observed_generation == Some(3)
    })
    .await;
    // Never more than asked for: no double-creates from watch lag.
    assert_eq!(c.pod_list().await.len(), 2);
}

/// Scaled up one replica at a time, each step racing the Pod informer (every
/// Pod the controller creates, and every status the agent writes, brings a
/// reconcile at once): a watch on the Pods never sees more live Pods than
/// asked for. Once seen as a rolling update one Pod over its surge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_scaled_up_step_by_step_never_overshoot() {
    let c = Cluster::start();
    let list = c.pods().list(&ListParams::default()).await.unwrap();
    let mut watch = c.pods().watch(&WatchParams::default(), &list.resource_version).await.unwrap();
    c.replica_sets().create(&replica_set("web", 1)).await.unwrap();
    let mut live: HashMap<String, bool> = HashMap::new();
    let mut most = 0;
    let start = std::time::Instant::now();
    for want in 1..=30 {
        if want > 1 {
            c.replica_sets().patch("web", &json!({"spec": {"replicas": want}})).await.unwrap();
        }
        while live.values().filter(|l| **l).count() < want {
            assert!(start.elapsed() < DEADLINE, "step {want}: {} live pods", live.len());
            let Ok(Some(Ok(event))) =
                tokio::time::timeout(Duration::from_millis(200), watch.next()).await
            else {
                continue;
            };
            match event {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                    live.insert(p.metadata.name.clone(), !p.metadata.is_deleting());
                }
                WatchEvent::Deleted(p) => {
                    live.remove(&p.metadata.name);
                }
                WatchEvent::Bookmark { .. } => {}
            }
            most = most.max(live.values().filter(|l| **l).count());
            assert!(most <= want, "step {want}: {most} live pods for {want} replicas");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_adopt_matching_orphans_and_release_pods_that_stop_matching() {
    let c = Cluster::start();
    let mut orphan = Pod {
        metadata: ObjectMeta::named("stray").with_label("app", "web"),
        spec: template("web", "myapp:1.4.0").spec,
        ..Default::default()
    };
    orphan.metadata.labels.insert("extra".into(), "1".into());
    c.pods().create(&orphan).await.unwrap();
    // The controllers' shared cache has the orphan before the ReplicaSet exists.
    let cached = c.factory.informer::<Pod>();
    c.until("the orphan in the shared cache", || {
        let found = cached
            .cache()
            .get(&orch_core::controller::ObjectKey::new("default", "stray"))
            .is_some();
        async move { found }
    })
    .await;
    let rs = c.replica_sets().create(&replica_set("web", 2)).await.unwrap();
    c.until("the orphan adopted and one more created", || async {
        let pods = c.pod_list().await;
        pods.len() == 2 && pods.iter().all(|p| owned_by(p, &rs.metadata.uid))
    })
    .await;
    // Relabel one: it is released and replaced.
    c.pods().patch("stray", &json!({"metadata": {"labels": {"app": "other"}}})).await.unwrap();
    c.until("release and replacement", || async {
        let pods = c.pod_list().await;
        let stray = pods.iter().find(|p| p.metadata.name == "stray");
        let owned = pods.iter().filter(|p| owned_by(p, &rs.metadata.uid)).count();
        stray.is_some_and(|s| s.metadata.controller_owner().is_none()) && owned == 2
    })
    .await;
}

#[test]
fn scale_down_order_follows_kubernetes() {
    let pod = |name: &str, node: Option<&str>, phase: PodPhase, ready: bool, created: i64| {
        let mut p = Pod { metadata: ObjectMeta::named(name), ..Default::default() };
        p.metadata.creation_timestamp =
            Some(Time(chrono::DateTime::from_timestamp(created, 0).unwrap()));
        p.spec.node_name = node.map(str::to_owned);
        p.status = Some(PodStatus {
            phase: Some(phase),
            conditions: vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(
                    chrono::DateTime::from_timestamp(created + 10, 0).unwrap(),
                )),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    };
    let mut pods = [
        pod("old-ready", Some("n"), PodPhase::Running, true, 100),
        pod("new-ready", Some("n"), PodPhase::Running, true, 200),
        pod("not-ready", Some("n"), PodPhase::Running, false, 50),
        pod("pending", Some("n"), PodPhase::Pending, false, 10),
        pod("unscheduled", None, PodPhase::Pending, false, 5),
    ];
    pods.sort_by(deletion_order);
    let names: Vec<&str> = pods.iter().map(|p| p.metadata.name.as_str()).collect();
    assert_eq!(names, ["unscheduled", "pending", "not-ready", "new-ready", "old-ready"]);
}

/// Follows every Pod event and checks the rolling-update bounds in each state.
struct RolloutObserver {
    pods: BTreeMap<String, Pod>,
    max_pods_seen: usize,
    min_ready_seen: usize,
    states: usize,
}

impl RolloutObserver {
    fn apply(&mut self, event: WatchEvent<Pod>) {
        match event {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                self.pods.insert(p.metadata.name.clone(), p);
            }
            WatchEvent::Deleted(p) => {
                self.pods.remove(&p.metadata.name);
            }
            WatchEvent::Bookmark { .. } => return,
        }
        let live = self.pods.values().filter(|p| !p.metadata.is_deleting()).count();
        let ready = self.pods.values().filter(|p| !p.metadata.is_deleting() && is_ready(p)).count();
        self.max_pods_seen = self.max_pods_seen.max(live);
        self.min_ready_seen = self.min_ready_seen.min(ready);
        self.states += 1;
    }
}

async fn wait_rolled_out(c: &Cluster, name: &str, image: &str, replicas: usize) {
    c.until(&format!("{name} rolled out to {image}"), || async {
        let d = c.deployments().get(name).await.unwrap();
        let s = d.status.clone().unwrap_or_default();
        let pods = c.pod_list().await;
        let on_image =
            pods.iter().filter(|p| p.spec.containers[0].image == image && is_ready(p)).count();
        on_image == replicas
            && pods.len() == replicas
            && s.updated_replicas == Some(replicas as i32)
            && s.available_replicas == Some(replicas as i32)
            && s.observed_generation == Some(d.metadata.generation)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_updates_stay_within_max_surge_and_max_unavailable_and_roll_back() {
    let c = Cluster::start();
    let mut d = deployment("web", 4, "myapp:1.4.0");
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some(DeploymentStrategyType::RollingUpdate),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(1)),
            max_unavailable: Some(IntOrString::String("25%".into())),
        }),
    });
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "web", "myapp:1.4.0", 4).await;
    let d = c.deployments().get("web").await.unwrap();
    let status = d.status.clone().unwrap();
    let reasons: HashMap<&str, &str> = status
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.reason.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(reasons["Available"], "MinimumReplicasAvailable");
    assert_eq!(reasons["Progressing"], "NewReplicaSetAvailable");
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "1");

    // Watch every pod state during the update.
    let list = c.pods().list(&ListParams::default()).await.unwrap();
    let mut observer = RolloutObserver {
        pods: list.items.into_iter().map(|p| (p.metadata.name.clone(), p)).collect(),
        max_pods_seen: 4,
        min_ready_seen: 4,
        states: 0,
    };
    let mut watch = c.pods().watch(&WatchParams::default(), &list.resource_version).await.unwrap();
    c.deployments()
        .patch("web", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "myapp:1.5.0"}]}}}}))
        .await
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let done = observer.pods.len() == 4
            && observer
                .pods
                .values()
                .all(|p| p.spec.containers[0].image == "myapp:1.5.0" && is_ready(p));
        if done {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "rollout did not finish: {:?}", observer.pods.keys());
        if let Ok(Some(Ok(event))) =
            tokio::time::timeout(Duration::from_millis(200), watch.next()).await
        {
            observer.apply(event);
        }
    }
    assert!(observer.states > 8, "the rollout went through intermediate states");
    assert!(observer.max_pods_seen <= 5, "maxSurge 1 exceeded: {} pods", observer.max_pods_seen);
    assert!(
        observer.min_ready_seen >= 3,
        "maxUnavailable 1 exceeded: {} ready",
        observer.min_ready_seen
    );
    wait_rolled_out(&c, "web", "myapp:1.5.0", 4).await;
    let rss = c.replica_sets().list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rss.len(), 2);
    let revisions: Vec<(String, i32)> = rss
        .iter()
        .map(|r| (r.metadata.annotations[REVISION_ANNOTATION].clone(), r.spec.replicas.unwrap()))
        .collect();
    assert!(
        revisions.contains(&("1".into(), 0)) && revisions.contains(&("2".into(), 4)),
        "{revisions:?}"
    );

    // Roll back to the previous revision: it becomes revision 3.
    rollback(c.store.clone(), "default", "web", None).await.unwrap();
    wait_rolled_out(&c, "web", "myapp:1.4.0", 4).await;
    c.until("revision 3", || async {
        c.deployments()
            .get("web")
            .await
            .unwrap()
            .metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .map(String::as_str)
            == Some("3")
    })
    .await;
    assert_eq!(
        c.replica_sets().list(&ListParams::default()).await.unwrap().items.len(),
        2,
        "the old ReplicaSet was reused"
    );
    assert!(rollback(c.store.clone(), "default", "web", Some(42)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_never_becomes_ready_is_reverted_automatically() {
    let c = Cluster::start();
    let mut d = deployment("api", 2, "myapp:1.0");
    d.metadata.annotations.insert("orch.io/auto-revert".into(), "true".into());
    d.spec.progress_deadline_seconds = Some(2);
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "api", "myapp:1.0", 2).await;
    c.deployments()
        .patch("api", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "broken:2.0"}]}}}}))
        .await
        .unwrap();
    c.until("the template reverted", || async {
        c.deployments().get("api").await.unwrap().spec.template.spec.containers[0].image
            == "myapp:1.0"
    })
    .await;
    wait_rolled_out(&c, "api", "myapp:1.0", 2).await;
    let events: Api<Event> = Api::namespaced(c.store.clone(), "default");
    let reverted = events
        .list(&ListParams::default().fields("involvedObject.name=api,reason=AutoReverted"))
        .await
        .unwrap();
    assert_eq!(reverted.items.len(), 1);
    assert!(reverted.items[0].message.as_deref().unwrap().contains("rolled back to revision 1"));
    let deadline = events
        .list(
            &ListParams::default()
                .fields("involvedObject.name=api,reason=ProgressDeadlineExceeded"),
        )
        .await
        .unwrap();
    assert_eq!(deadline.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_stops_every_old_pod_before_starting_new_ones() {
    let c = Cluster::start();
    let mut d = deployment("batch", 3, "job:1");
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some(DeploymentStrategyType::Recreate),
        rolling_update: None,
    });
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "batch", "job:1", 3).await;
    let list = c.pods().list(&ListParams::default()).await.unwrap();
    let mut pods: BTreeMap<String, Pod> =
        list.items.into_iter().map(|p| (p.metadata.name.clone(), p)).collect();
    let mut watch = c.pods().watch(&WatchParams::default(), &list.resource_version).await.unwrap();
    c.deployments()
        .patch("batch", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "job:2"}]}}}}))
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while !(pods.len() == 3
        && pods.values().all(|p| p.spec.containers[0].image == "job:2" && is_ready(p)))
    {
        assert!(start.elapsed() < DEADLINE, "recreate did not finish");
        if let Ok(Some(Ok(event))) =
            tokio::time::timeout(Duration::from_millis(200), watch.next()).await
        {
            match event {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                    pods.insert(p.metadata.name.clone(), p);
                }
                WatchEvent::Deleted(p) => {
                    pods.remove(&p.metadata.name);
                }
                WatchEvent::Bookmark { .. } => {}
            }
            let images: std::collections::HashSet<&str> =
                pods.values().map(|p| p.spec.containers[0].image.as_str()).collect();
            assert!(images.len() <= 1, "old and new pods at once: {images:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_deployments_do_not_roll_out_and_history_is_limited() {
    let c = Cluster::start();
    let mut d = deployment("web", 2, "v:1");
    d.spec.revision_history_limit = Some(1);
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "web", "v:1", 2).await;
    for image in ["v:2", "v:3"] {
        c.deployments()
            .patch("web", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}))
            .await
            .unwrap();
        wait_rolled_out(&c, "web", image, 2).await;
    }
    c.until("history limited to one old ReplicaSet", || async {
        c.replica_sets().list(&ListParams::default()).await.unwrap().items.len() == 2
    })
    .await;

    c.deployments().patch("web", &json!({"spec": {"paused": true}})).await.unwrap();
    let changed = c
        .deployments()
        .patch("web", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "v:4"}]}}}}))
        .await
        .unwrap();
    c.until("the paused change observed", || async {
        let d = c.deployments().get("web").await.unwrap();
        d.status.and_then(|s| s.observed_generation) == Some(changed.metadata.generation)
    })
    .await;
    let pods = c.pod_list().await;
    assert!(pods.iter().all(|p| p.spec.containers[0].image == "v:3"), "paused: no rollout");
    assert_eq!(c.replica_sets().list(&ListParams::default()).await.unwrap().items.len(), 2);
    c.deployments().patch("web", &json!({"spec": {"paused": false}})).await.unwrap();
    wait_rolled_out(&c, "web", "v:4", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_deployment_cascades_in_background_and_foreground() {
    let c = Cluster::start();
    c.deployments().create(&deployment("bg", 2, "a:1")).await.unwrap();
    c.deployments().create(&deployment("fg", 2, "b:1")).await.unwrap();
    wait_until_pods(&c, 4).await;

    c.deployments().delete("bg", &DeleteParams::default()).await.unwrap();
    c.until("background cascade", || async {
        let rss = c.replica_sets().list(&ListParams::default()).await.unwrap().items;
        let pods = c.pod_list().await;
        rss.iter().all(|r| !r.metadata.name.starts_with("bg-"))
            && pods.iter().all(|p| !p.metadata.name.starts_with("bg-"))
    })
    .await;

    let outcome = c.deployments().delete("fg", &DeleteParams::foreground()).await.unwrap();
    assert!(!outcome.is_deleted(), "foreground deletion waits for dependents");
    // Until the deployment is gone, check that it is never gone before its pods.
    let start = std::time::Instant::now();
    loop {
        let pods_left =
            c.pod_list().await.iter().filter(|p| p.metadata.name.starts_with("fg-")).count();
        match c.deployments().get_opt("fg").await.unwrap() {
            Some(d) => assert!(d.metadata.is_deleting()),
            None => {
                assert_eq!(pods_left, 0, "the owner went before its dependents");
                break;
            }
        }
        assert!(start.elapsed() < DEADLINE, "foreground deletion did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(c.replica_sets().list(&ListParams::default()).await.unwrap().items.is_empty());
}

async fn wait_until_pods(c: &Cluster, n: usize) {
    c.until(&format!("{n} ready pods"), || async {
        let pods = c.pod_list().await;
        pods.len() == n && pods.iter().all(is_ready)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_deletion_leaves_the_pods_without_an_owner() {
    let c = Cluster::start();
    let rs = c.replica_sets().create(&replica_set("keep", 2)).await.unwrap();
    wait_until_pods(&c, 2).await;
    c.replica_sets().delete("keep", &DeleteParams::orphan()).await.unwrap();
    c.until("the ReplicaSet gone", || async {
        c.replica_sets().get_opt("keep").await.unwrap().is_none()
    })
    .await;
    let pods = c.pod_list().await;
    assert_eq!(pods.len(), 2, "the pods stay");
    assert!(pods.iter().all(|p| p
        .metadata
        .owner_references
        .iter()
        .all(|o| o.uid != rs.metadata.uid)));
}
