//! The pod garbage collector on MemStore: terminated pods beyond the
//! threshold go oldest first, and pods whose node is gone go (terminating
//! ones included); running pods on live nodes stay.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use orch_controllers::{PodGc, PodGcConfig};
use orch_core::api::{DeleteParams, ListParams};
use orch_core::controller::InformerFactory;
use orch_core::kinds::pod::{Container, PodSpec};
use orch_core::testing::wait_for;
use orch_core::{Api, Node, ObjectMeta, Pod};
use orch_store::MemStore;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(20);

fn pod(name: &str, node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name),
        spec: PodSpec {
            node_name: Some(node.into()),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_beyond_the_threshold_and_orphaned_pods_are_collected() {
    let store = Arc::new(MemStore::new());
    Api::<Node>::all(store.clone())
        .create(&Node { metadata: ObjectMeta::named("n1"), ..Default::default() })
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    for (i, phase) in ["Succeeded", "Failed", "Succeeded", "Failed"].iter().enumerate() {
        let name = format!("done-{i}");
        pods.create(&pod(&name, "n1")).await.unwrap();
        pods.patch_status(&name, &json!({"status": {"phase": phase}})).await.unwrap();
    }
    pods.create(&pod("running", "n1")).await.unwrap();
    pods.patch_status("running", &json!({"status": {"phase": "Running"}})).await.unwrap();
    pods.create(&pod("orphan", "gone")).await.unwrap();
    // Terminating on a node that is gone: no agent will finish it.
    pods.create(&pod("stuck", "gone")).await.unwrap();
    let stuck = pods.delete("stuck", &DeleteParams::default()).await.unwrap();
    assert!(!stuck.is_deleted(), "a bound pod is deleted gracefully");

    let factory = Arc::new(InformerFactory::new(store.clone()));
    let config = PodGcConfig { period: Duration::from_millis(50), terminated_pod_threshold: 2 };
    let stop = CancellationToken::new();
    let gc = tokio::spawn(PodGc::new(&factory, config).run(stop.clone()));
    let want: BTreeSet<String> = ["done-2", "done-3", "running"].map(String::from).into();
    wait_for("the collected pods to go", DEADLINE, || async {
        let left: BTreeSet<String> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.metadata.name)
            .collect();
        if left == want {
            Ok(())
        } else {
            Err(format!("left: {left:?}"))
        }
    })
    .await;
    stop.cancel();
    gc.await.unwrap();
    factory.shutdown();
}
