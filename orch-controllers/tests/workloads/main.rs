//! The built-in workload controllers on MemStore, with a stand-in node agent
//! that binds every Pod and reports it Running and Ready — or, for images
//! named `broken:*`, Running but never Ready.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orch_controllers::deployment::{rollback, REVISION_ANNOTATION};
use orch_controllers::pod_readiness::{deletion_order, is_ready};
use orch_controllers::{
    DeploymentController, GarbageCollector, JobController, ReplicaSetController,
};
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

mod deployments;
mod garbage_collection;
mod jobs;
mod replica_sets;

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
        let j = Arc::new(JobController::new(&factory).backoff_base(Duration::from_millis(20)));
        tokio::spawn(JobController::controller(factory.clone()).run(j, stop.clone()));
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
    async fn until<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        orch_core::testing::wait_until(what, DEADLINE, check).await
    }
}

/// Binds each new Pod to `node-1` and reports it Running and Ready (or, for
/// `broken:*` images, Running and not Ready; for `succeed:*` and `fail:*`,
/// Succeeded or Failed at once, its container terminated); finishes
/// graceful deletions (except for `slow-stop:*` images, whose Pods stay
/// terminating).
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
            let stops_slowly = pod.spec.containers.iter().any(|c| c.image.starts_with("slow-stop"));
            if pod.metadata.is_deleting() && stops_slowly {
                // Its containers "take the whole grace period": it stays terminating.
                continue;
            }
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
            let _ = ns_api.bind(&pod.metadata.name, "node-1", &Default::default()).await;
            let image =
                |prefix: &str| pod.spec.containers.iter().any(|c| c.image.starts_with(prefix));
            if image("succeed") || image("fail") {
                let (phase, code) =
                    if image("succeed") { (PodPhase::Succeeded, 0) } else { (PodPhase::Failed, 1) };
                let status = json!({"status": {"phase": phase, "containerStatuses": [{
                    "name": "web", "image": "job", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": code, "finishedAt": Time::now()}}}]}});
                let _ = ns_api.patch_status(&pod.metadata.name, &status).await;
                continue;
            }
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
