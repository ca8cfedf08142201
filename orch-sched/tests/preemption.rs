//! Preemption through the whole scheduler on MemStore, with victims that stay
//! terminating (held by a finalizer): the preemptor's nominated node keeps
//! its room, and the preemptor does not preempt again while they go.

mod support;

use orch_core::kinds::node::Taint;
use orch_core::kinds::pod::Toleration;
use orch_core::testing::{wait_for, wait_until};
use orch_core::{Api, Node, Pod};
use orch_sched::framework::config::ProfileConfig;
use orch_sched::framework::Registry;
use support::{node, pod, Harness, DEADLINE};

/// Keeps a victim terminating until the test lets it go.
const HOLD: &str = "orch.io/test-hold";

fn with_priority(mut p: Pod, priority: i32) -> Pod {
    p.spec.priority = Some(priority);
    p
}

fn held(p: Pod) -> Pod {
    let mut p = p;
    p.metadata.finalizers.push(HOLD.into());
    p
}

/// Removes the finalizers of a terminating pod, which lets it go.
async fn release(h: &Harness, name: &str) {
    for _ in 0..10 {
        let mut p = h.pods().get(name).await.unwrap();
        p.metadata.finalizers.clear();
        match h.pods().replace(&p).await {
            Err(e) if e.is_conflict() => continue,
            result => {
                result.unwrap();
                return;
            }
        }
    }
    panic!("could not release {name}: conflicts");
}

/// Waits until `preemptor` is nominated to `node` and `victim` terminates.
async fn preempted(h: &Harness, preemptor: &str, node: &str, victim: &str) {
    wait_for(
        format!("{preemptor} nominated to {node}, {victim} terminating"),
        DEADLINE,
        || async {
            let p = h.pods().get(preemptor).await.unwrap();
            let nominated = p.status.and_then(|s| s.nominated_node_name);
            let v = h.pods().get(victim).await.unwrap();
            if nominated.as_deref() == Some(node) && v.metadata.is_deleting() {
                Ok(())
            } else {
                Err(format!(
                    "nominated: {nominated:?}, {victim} deleting: {}",
                    v.metadata.is_deleting()
                ))
            }
        },
    )
    .await;
}

async fn bound_to(h: &Harness, name: &str, node: &str) {
    wait_for(format!("{name} bound to {node}"), DEADLINE, || async {
        let placement = h.placement().await;
        match placement.get(name) {
            Some(Some(n)) if n == node => Ok(()),
            _ => Err(format!("{placement:?}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_priority_pod_does_not_take_the_room_a_preemptor_is_nominated_to() {
    let h =
        Harness::start(vec![node("n1", "3", &[])], Registry::default(), ProfileConfig::default())
            .await;
    h.pods().create(&held(with_priority(pod("victim", "2", "batch"), 0))).await.unwrap();
    h.bound(1).await;
    let urgent = h.pods().create(&with_priority(pod("urgent", "3", "web"), 100)).await.unwrap();
    preempted(&h, "urgent", "n1", "victim").await;

    // One core is free while the victim terminates, but it is part of the
    // room urgent waits for.
    h.pods().create(&with_priority(pod("sneaky", "1", "batch"), 0)).await.unwrap();
    let outcome = wait_for("sneaky's scheduling attempt", DEADLINE, || async {
        if let Some(Some(node)) = h.placement().await.get("sneaky") {
            return Ok(format!("bound to {node}"));
        }
        let failed = h.pod_events("sneaky", "FailedScheduling").await;
        if failed.is_empty() {
            Err("no attempt yet".to_owned())
        } else {
            Ok(failed.join(" | "))
        }
    })
    .await;
    assert_eq!(h.placement().await["sneaky"], None, "sneaky took urgent's room: {outcome}");
    assert!(outcome.contains("1 Insufficient cpu"), "{outcome}");

    // A higher-priority pod need not respect a lower nominee's room.
    h.pods().create(&with_priority(pod("vip", "1", "web"), 200)).await.unwrap();
    bound_to(&h, "vip", "n1").await;
    h.pods().delete("vip", &Default::default()).await.unwrap();
    wait_until("vip gone", DEADLINE, || async { !h.placement().await.contains_key("vip") }).await;

    // The victim goes: urgent gets its node, sneaky still waits.
    release(&h, "victim").await;
    bound_to(&h, "urgent", "n1").await;
    assert_eq!(h.placement().await["sneaky"], None);
    // Bound, its nomination has served.
    assert_eq!(h.nominator.nominated_node(&urgent.metadata.uid), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preemptor_does_not_preempt_again_while_its_victims_terminate() {
    let mut n2 = node("n2", "2", &[]);
    n2.spec.taints.push(Taint {
        key: "dedicated".into(),
        value: Some("batch".into()),
        effect: "NoSchedule".into(),
        time_added: None,
    });
    let h = Harness::start(
        vec![node("n1", "2", &[]), n2],
        Registry::default(),
        ProfileConfig::default(),
    )
    .await;
    h.pods().create(&held(with_priority(pod("victim", "2", "batch"), 10))).await.unwrap();
    bound_to(&h, "victim", "n1").await;
    let mut other = with_priority(pod("other", "2", "batch"), 0);
    other.spec.tolerations.push(Toleration {
        key: Some("dedicated".into()),
        operator: Some("Exists".into()),
        ..Default::default()
    });
    h.pods().create(&other).await.unwrap();
    bound_to(&h, "other", "n2").await;

    // n2 is tainted: only the victim on n1 can make room for urgent.
    h.pods().create(&with_priority(pod("urgent", "2", "web"), 100)).await.unwrap();
    preempted(&h, "urgent", "n1", "victim").await;

    // Untainted, n2 would now be the better candidate (a lower-priority
    // victim), but urgent waits for the victim it already evicted.
    let nodes: Api<Node> = Api::all(h.store.clone());
    let mut n2 = nodes.get("n2").await.unwrap();
    n2.spec.taints.clear();
    nodes.replace(&n2).await.unwrap();
    let outcome = wait_for("urgent's attempt with n2 untainted", DEADLINE, || async {
        match h.pods().get_opt("other").await.unwrap() {
            Some(o) if o.metadata.is_deleting() => return Ok("other evicted".to_owned()),
            None => return Ok("other evicted and gone".to_owned()),
            Some(_) => {}
        }
        let failed = h.pod_events("urgent", "FailedScheduling").await;
        match failed.iter().find(|m| m.contains("2 Insufficient cpu")) {
            Some(m) => Ok(m.clone()),
            None => Err(format!("FailedScheduling for urgent: {failed:?}")),
        }
    })
    .await;
    assert!(
        outcome.contains("preemption: not eligible due to a terminating pod on the nominated node"),
        "{outcome}"
    );
    let other = h.pods().get("other").await.unwrap();
    assert!(!other.metadata.is_deleting(), "no second victim");

    // The victim goes: urgent gets the node it was nominated to.
    release(&h, "victim").await;
    bound_to(&h, "urgent", "n1").await;
    assert_eq!(h.placement().await["other"].as_deref(), Some("n2"));
}
