//! A built-in controller restarted on a store that already holds its
//! objects acts only once its caches have listed.

use std::sync::Arc;
use std::time::Duration;

use orch_controllers::ReplicaSetController;
use orch_core::api::ListParams;
use orch_core::controller::InformerFactory;
use orch_core::kinds::pod::{Container, PodSpec};
use orch_core::store::Store;
use orch_core::testing::{wait_until, FaultyStore};
use orch_core::{Api, ObjectMeta, Pod, ReplicaSet};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(20);

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    let mut rs = ReplicaSet { metadata: ObjectMeta::named(name), ..Default::default() };
    rs.spec.replicas = Some(replicas);
    rs.spec.selector.match_labels.insert("app".into(), name.into());
    rs.spec.template.metadata.labels.insert("app".into(), name.into());
    rs.spec.template.spec = PodSpec {
        containers: vec![Container { name: "c".into(), image: "i".into(), ..Default::default() }],
        ..Default::default()
    };
    rs
}

/// A ReplicaSet controller started on a store whose Pod lists are slow
/// (500 ms) does not reconcile before its Pod cache has listed: it finds
/// the 3 Pods an earlier instance made and creates none (a reconcile on the
/// still-empty cache would create 3 more), and a scale to 4 creates one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_reconciles_only_after_its_caches_have_listed() {
    let shared = Arc::new(MemStore::new());
    let run = |store: Arc<dyn Store>, stop: CancellationToken| {
        let factory = Arc::new(InformerFactory::new(store));
        let rs = Arc::new(ReplicaSetController::new(&factory));
        let controller = ReplicaSetController::controller(factory.clone());
        tokio::spawn(async move {
            controller.run(rs, stop).await;
            factory.shutdown();
        })
    };
    let rs_api: Api<ReplicaSet> = Api::namespaced(shared.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(shared.clone(), "default");
    let count = || async { pods.list(&ListParams::default()).await.unwrap().items.len() };
    rs_api.create(&replica_set("web", 3)).await.unwrap();
    let stop = CancellationToken::new();
    let first = run(shared.clone(), stop.clone());
    wait_until("the first instance to make 3 pods", DEADLINE, || async { count().await == 3 })
        .await;
    stop.cancel();
    first.await.unwrap();

    let slow = Arc::new(FaultyStore::slow_lists(
        shared.clone(),
        "/registry/core/pods/",
        Duration::from_millis(500),
    ));
    let stop = CancellationToken::new();
    let second = run(slow.clone(), stop.clone());
    rs_api.patch("web", &serde_json::json!({"spec": {"replicas": 4}})).await.unwrap();
    wait_until("4 replicas in status and store", DEADLINE, || async {
        let status = rs_api.get("web").await.unwrap().status;
        status.is_some_and(|s| s.replicas == 4) && count().await == 4
    })
    .await;
    let created: Vec<String> =
        slow.created().into_iter().filter(|k| k.starts_with("/registry/core/pods/")).collect();
    assert_eq!(created.len(), 1, "pods created by the second instance: {created:?}");
    stop.cancel();
    second.await.unwrap();
}
