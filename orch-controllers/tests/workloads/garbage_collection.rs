//! Deleting a Deployment: background, foreground and orphan cascades
//! through owner references.

use super::*;

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
    orch_core::testing::wait_for("the foreground deletion to finish", DEADLINE, || async {
        let pods_left =
            c.pod_list().await.iter().filter(|p| p.metadata.name.starts_with("fg-")).count();
        match c.deployments().get_opt("fg").await.unwrap() {
            Some(d) => {
                assert!(d.metadata.is_deleting());
                Err(format!("{pods_left} pods left"))
            }
            None => {
                assert_eq!(pods_left, 0, "the owner went before its dependents");
                Ok(())
            }
        }
    })
    .await;
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
