//! The agent registers its Node and renews its lease.

use orch_core::kinds::node::Taint;
use orch_core::testing::{wait_for, wait_until};
use orch_core::{Api, Lease, Node};

use crate::{bound_pod, Node1, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_registers_its_node_and_renews_its_lease() {
    let n = Node1::start().await;
    wait_until("the node registered and ready", DEADLINE, || async {
        Api::<Node>::all(n.store.clone()).get_opt("node-1").await.unwrap().is_some_and(|node| {
            let s = node.status.unwrap_or_default();
            s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                && s.allocatable["pods"].as_bytes().unwrap() == 110
                && s.allocatable["cpu"].as_millis().unwrap() >= 1000
                && node.metadata.labels["kubernetes.io/hostname"] == "node-1"
                && node.metadata.labels["topology.kubernetes.io/zone"] == "zone-a"
        })
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(n.store.clone(), "kube-node-lease");
    let first = leases.get("node-1").await.unwrap().spec.renew_time;
    wait_until("the lease renewed", DEADLINE, || async {
        leases.get("node-1").await.unwrap().spec.renew_time != first
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

/// A restarted agent registers again without dropping the taints others put
/// on its Node, and without adding its own twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_registration_keeps_the_taints_others_set() {
    let own = Taint {
        key: "dedicated".into(),
        value: Some("infra".into()),
        effect: "NoSchedule".into(),
        time_added: None,
    };
    let mut n = Node1::start().await;
    n.stop_agent().await;
    n.config.taints = vec![own.clone()];
    n.spawn_agent();
    let nodes = Api::<Node>::all(n.store.clone());
    let ready = |node: &Node| {
        node.status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    wait_until("the node registered with its taint", DEADLINE, || async {
        nodes.get_opt("node-1").await.unwrap().is_some_and(|node| {
            ready(&node) && node.spec.taints.iter().any(|t| t.key == "dedicated")
        })
    })
    .await;
    n.stop_agent().await;
    // Meanwhile an admin cordons the node and it goes NotReady.
    let mut node = nodes.get("node-1").await.unwrap();
    let cordon = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        value: None,
        effect: "NoSchedule".into(),
        time_added: None,
    };
    node.spec.taints.push(cordon.clone());
    let node = nodes.replace(&node).await.unwrap();
    let mut not_ready = node.clone();
    for c in &mut not_ready.status.as_mut().unwrap().conditions {
        c.status = "Unknown".into();
    }
    nodes.replace_status(&not_ready).await.unwrap();
    n.spawn_agent();
    wait_until("the node registered again", DEADLINE, || async {
        ready(&nodes.get("node-1").await.unwrap())
    })
    .await;
    let taints = nodes.get("node-1").await.unwrap().spec.taints;
    assert_eq!(taints, vec![own, cordon], "the agent's own once, the cordon kept");
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(the_node_reports_the_images_on_it, node_images_case);

/// The Node's `status.images` lists the runtime's images, the one a pod
/// just ran included (ImageLocality scores on it).
async fn node_images_case(n: Node1) {
    let container = n.sh("c", "sleep 30");
    let image = container.image.clone();
    n.pods().create(&bound_pod("img-0", vec![container])).await.unwrap();
    n.running_and_ready("img-0").await;
    let nodes = Api::<Node>::all(n.store.clone());
    wait_for(format!("status.images to name {image}"), DEADLINE, || async {
        let node = nodes.get("node-1").await.unwrap();
        let images = node.status.unwrap_or_default().images;
        let named = images.iter().any(|i| {
            i.names.iter().any(|name| *name == image || name.ends_with(&format!("/{image}")))
        });
        if named {
            Ok(())
        } else {
            Err(format!("{images:?}"))
        }
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}
