//! The agent registers its Node and renews its lease.

use orch_core::testing::wait_until;
use orch_core::{Api, Lease, Node};

use crate::{Node1, DEADLINE};

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
