//! A restarted (or stopped) agent and the containers it left: adopted,
//! never duplicated or stopped; its own orphans removed, others' kept.

use orch_core::api::DeleteParams;
use orch_core::kinds::pod::PodPhase;
use orch_core::testing::wait_until;
use orch_core::{Api, Lease};
use orch_runtime::runtime::PodSandboxFilter;

use crate::{bound_pod, Node1, DEADLINE};

on_both_runtimes!(a_restarted_agent_adopts_running_containers_without_duplicates, adopt_case);

async fn adopt_case(mut n: Node1) {
    let script = "trap 'exit 0' TERM; sleep 60 & wait";
    n.pods().create(&bound_pod("steady", vec![n.sh("main", script)])).await.unwrap();
    wait_until("running", DEADLINE, || async {
        n.pod("steady").await.status.and_then(|s| s.phase) == Some(PodPhase::Running)
    })
    .await;
    let running = n.running_containers().await;
    assert_eq!(running.len(), 1);
    n.stop_agent().await;
    // A new runtime client over the same state, and a new agent.
    n.reconnect_runtime();
    n.spawn_agent();
    // Let the new agent sync many times: two lease renewals (200 ms apart)
    // span several pod resyncs (50 ms apart).
    let leases: Api<Lease> = Api::namespaced(n.store.clone(), "kube-node-lease");
    for _ in 0..3 {
        let seen = leases.get("node-1").await.unwrap().metadata.resource_version;
        wait_until("a lease renewal", DEADLINE, || async {
            leases.get("node-1").await.unwrap().metadata.resource_version != seen
        })
        .await;
    }
    assert_eq!(n.running_containers().await, running, "the same container, not a second one");
    let p = n.pod("steady").await;
    assert_eq!(p.status.unwrap().container_statuses[0].restart_count, 0);
    n.delete_all_and_check_no_leftovers().await;
}

/// Stopping the agent leaves its containers alone, even when it stops while
/// its pod workers are busy: 20 restarts, each stopped as soon as the new
/// agent has renewed its lease (its workers then adopt the pods), never
/// stop or replace a container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_busy_agent_leaves_every_container_running() {
    let mut n = Node1::start().await;
    let script = "trap 'exit 0' TERM; sleep 60 & wait";
    for i in 0..8 {
        n.pods().create(&bound_pod(&format!("p{i}"), vec![n.sh("main", script)])).await.unwrap();
    }
    wait_until("8 running", DEADLINE, || async { n.running_containers().await.len() == 8 }).await;
    let running = n.running_containers().await;
    let leases: Api<Lease> = Api::namespaced(n.store.clone(), "kube-node-lease");
    for round in 0..20 {
        n.stop_agent().await;
        let seen = leases.get("node-1").await.unwrap().metadata.resource_version;
        n.spawn_agent();
        wait_until("the new agent's lease renewal", DEADLINE, || async {
            leases.get("node-1").await.unwrap().metadata.resource_version != seen
        })
        .await;
        let now = n.running_containers().await;
        assert_eq!(now, running, "round {round}:\n{}", n.describe_containers().await);
    }
    n.stop_agent().await;
    assert_eq!(n.running_containers().await, running, "after the last stop");
    n.spawn_agent();
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(a_restarted_agent_removes_only_its_own_orphans, orphan_case);

/// A pod deleted while its agent was down loses its sandbox when the agent
/// comes back; a sandbox another node's agent made on the same runtime is
/// left alone, and so is the pod that still exists.
async fn orphan_case(mut n: Node1) {
    use orch_runtime::agent::{LABEL_NODE_NAME, LABEL_POD_UID};
    use orch_runtime::runtime::{PodSandboxConfig, PodSandboxMetadata};
    let script = "trap 'exit 0' TERM; sleep 60 & wait";
    for name in ["gone", "kept"] {
        n.pods().create(&bound_pod(name, vec![n.sh("main", script)])).await.unwrap();
    }
    wait_until("both running", DEADLINE, || async { n.running_containers().await.len() == 2 })
        .await;
    let kept_before = n.running_containers().await;
    let gone_uid = n.pod("gone").await.metadata.uid;
    n.stop_agent().await;
    let force = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    n.pods().delete("gone", &force).await.unwrap();
    let other_node = PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: "elsewhere".into(),
            uid: "uid-elsewhere".into(),
            namespace: "default".into(),
            attempt: 0,
        },
        labels: [
            (LABEL_NODE_NAME.to_string(), "node-2".to_string()),
            (LABEL_POD_UID.to_string(), "uid-elsewhere".to_string()),
        ]
        .into(),
        ..Default::default()
    };
    let foreign = n.runtime.run_pod_sandbox(&other_node).await.unwrap();
    n.reconnect_runtime();
    n.spawn_agent();
    let sandbox_of = |uid: &str| PodSandboxFilter {
        label_selector: [(LABEL_POD_UID.to_string(), uid.to_string())].into(),
        ..Default::default()
    };
    wait_until("the deleted pod's sandbox removed", DEADLINE, || async {
        n.runtime.list_pod_sandbox(&sandbox_of(&gone_uid)).await.unwrap().is_empty()
    })
    .await;
    let left = n.runtime.list_pod_sandbox(&sandbox_of("uid-elsewhere")).await.unwrap();
    assert_eq!(left.len(), 1, "another node's sandbox was removed");
    let kept_now = n.running_containers().await;
    assert!(
        kept_now.len() == 1 && kept_before.contains(&kept_now[0]),
        "the kept pod's container still runs: before {kept_before:?}, now {kept_now:?}\n{}",
        n.describe_containers().await
    );
    n.runtime.stop_pod_sandbox(&foreign).await.unwrap();
    n.runtime.remove_pod_sandbox(&foreign).await.unwrap();
    n.delete_all_and_check_no_leftovers().await;
}
