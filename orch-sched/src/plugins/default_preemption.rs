//! DefaultPreemption (PostFilter): when no node fits, finds the node where
//! evicting the fewest, lowest-priority pods makes room, evicts them, and
//! nominates the node (`status.nominatedNodeName`); the pod is scheduled
//! again once they are gone.
//!
//! Candidates are nodes rejected as `Unschedulable` (not `Unresolvable`):
//! only pods of lower priority are considered, lowest first, and then as many
//! as still fit are spared, highest priority first (Kubernetes' reprieve).
//! Fits are judged with the pods nominated to the node counted in, as
//! Filter does. Among candidates, the lowest highest-victim priority wins,
//! then the lowest sum of victim priorities, then the fewest victims.
//!
//! As kube-scheduler's `PodEligibleToPreemptOthers`, a pod already
//! nominated to a node where lower-priority pods are still terminating
//! (its earlier victims, `deletionTimestamp` set) does not preempt again:
//! it keeps its nomination and waits for them to go, unless its nominated
//! node has become `UnschedulableAndUnresolvable` for it. When no node
//! would help, the pod's nomination is dropped (and its
//! `status.nominatedNodeName` cleared).

use std::sync::Arc;

use async_trait::async_trait;
use orch_core::api::DeleteParams;
use orch_core::store::Store;
use orch_core::{Api, Pod};
use serde_json::json;

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::framework::{Framework, PostFilterPlugin, PostFilterResult, PreFilterOutcome};
use crate::nominator::{status_nominated_node, NominatedPods};
use crate::status::{Code, Status};

/// The DefaultPreemption plugin.
pub struct DefaultPreemption {
    store: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for DefaultPreemption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultPreemption").finish_non_exhaustive()
    }
}

impl DefaultPreemption {
    /// Evicts through `store`; without one it only nominates.
    pub fn new(store: Option<Arc<dyn Store>>) -> Self {
        DefaultPreemption { store }
    }
}

/// The reason a pod may not preempt, from kube-scheduler.
pub const NOT_ELIGIBLE_TERMINATING: &str =
    "not eligible due to a terminating pod on the nominated node";

/// kube-scheduler's `PodEligibleToPreemptOthers`: `Err` with the reason if
/// `pod` is nominated to a node on which pods of lower priority are
/// terminating — its earlier victims have not gone yet, so preempting again
/// would evict more than needed. A nominated node that Filter rejected as
/// `UnschedulableAndUnresolvable` (or that is gone) does not hold it back.
///
/// The nomination is the [`Nominator`](crate::nominator::Nominator)'s (it
/// follows the pod's `status.nominatedNodeName` as the informer sees it),
/// not the possibly older copy of the pod the cycle runs on.
pub fn eligible_to_preempt_others(
    fw: &Framework,
    pod: &PodInfo,
    snapshot: &Snapshot,
    statuses: &[(usize, Status)],
) -> Result<(), &'static str> {
    let Some(name) = fw.nominator().nominated_node(pod.uid()) else { return Ok(()) };
    let unresolvable = statuses.iter().any(|(i, s)| {
        s.code == Code::UnschedulableAndUnresolvable
            && snapshot.nodes().get(*i).is_some_and(|n| n.name() == name)
    });
    if unresolvable {
        return Ok(());
    }
    let Some(node) = snapshot.get(&name) else { return Ok(()) };
    let terminating =
        node.pods.iter().any(|p| p.priority < pod.priority && p.pod.metadata.is_deleting());
    if terminating {
        Err(NOT_ELIGIBLE_TERMINATING)
    } else {
        Ok(())
    }
}

/// The victims on one node, if evicting them makes `pod` fit there (with
/// the pods `nominated` to the node that `pod` must respect counted in).
pub fn select_victims(
    fw: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    nominated: &NominatedPods,
) -> Option<Vec<Arc<PodInfo>>> {
    let pre = PreFilterOutcome::default();
    let fits = |n: &NodeInfo| {
        fw.run_filters_with_nominated_pods(state, pod, n, &pre, nominated).is_success()
    };
    let mut lower: Vec<Arc<PodInfo>> =
        node.pods.iter().filter(|p| p.priority < pod.priority).cloned().collect();
    if lower.is_empty() {
        return None;
    }
    let mut what_if = node.clone();
    for v in &lower {
        what_if.remove_pod(v.uid(), what_if.generation);
    }
    if !fits(&what_if) {
        return None;
    }
    // Spare as many as still fit, highest priority first.
    lower.sort_by_key(|p| std::cmp::Reverse(p.priority));
    let mut victims = Vec::new();
    for v in lower {
        what_if.add_pod(v.clone(), what_if.generation);
        if !fits(&what_if) {
            what_if.remove_pod(v.uid(), what_if.generation);
            victims.push(v);
        }
    }
    Some(victims)
}

impl DefaultPreemption {
    /// Clears `status.nominatedNodeName` of a pod that was nominated (as
    /// kube-scheduler does when preemption finds no candidate). A failed
    /// write is left: the nomination is dropped in memory all the same.
    async fn clear_nominated_node_name(&self, fw: &Framework, pod: &PodInfo) {
        let Some(store) = &self.store else { return };
        if fw.nominator().nominated_node(pod.uid()).is_none()
            && status_nominated_node(&pod.pod).is_none()
        {
            return;
        }
        let api: Api<Pod> = Api::namespaced(store.clone(), &pod.pod.metadata.namespace);
        let _ = api
            .patch_status(&pod.pod.metadata.name, &json!({"status": {"nominatedNodeName": null}}))
            .await;
    }
}

#[async_trait]
impl PostFilterPlugin for DefaultPreemption {
    async fn post_filter(
        &self,
        fw: &Framework,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        statuses: &[(usize, Status)],
    ) -> (PostFilterResult, Status) {
        if let Err(reason) = eligible_to_preempt_others(fw, pod, snapshot, statuses) {
            // Keep the nomination; the victims' deletion requeues the pod.
            return (PostFilterResult::default(), Status::unschedulable(reason));
        }
        let nominated = fw.nominator().nominated_pods();
        let mut best: Option<((i32, i64, usize), usize, Vec<Arc<PodInfo>>)> = None;
        for (idx, status) in statuses {
            if status.code != Code::Unschedulable {
                continue;
            }
            let node = &snapshot.nodes()[*idx];
            let Some(victims) = select_victims(fw, state, pod, node, &nominated) else {
                continue;
            };
            let key = (
                victims.iter().map(|v| v.priority).max().unwrap_or(i32::MIN),
                victims.iter().map(|v| i64::from(v.priority)).sum::<i64>(),
                victims.len(),
            );
            if best.as_ref().is_none_or(|(k, _, _)| key < *k) {
                best = Some((key, *idx, victims));
            }
        }
        let Some((_, idx, victims)) = best else {
            self.clear_nominated_node_name(fw, pod).await;
            return (
                PostFilterResult { nominated_node: None, clear_nomination: true },
                Status::unschedulable(
                    "preemption: no node where evicting lower-priority pods helps",
                ),
            );
        };
        let node = snapshot.nodes()[idx].name().to_owned();
        if let Some(store) = &self.store {
            for v in &victims {
                let api: Api<Pod> = Api::namespaced(store.clone(), &v.pod.metadata.namespace);
                match api.delete(&v.pod.metadata.name, &DeleteParams::default()).await {
                    Ok(_) | Err(orch_core::Error::NotFound { .. }) => {}
                    Err(e) => {
                        return (
                            PostFilterResult::default(),
                            Status::error(format!(
                                "preemption: evicting {}: {e}",
                                v.pod.metadata.name
                            )),
                        )
                    }
                }
            }
            let api: Api<Pod> = Api::namespaced(store.clone(), &pod.pod.metadata.namespace);
            let _ = api
                .patch_status(
                    &pod.pod.metadata.name,
                    &json!({"status": {"nominatedNodeName": node}}),
                )
                .await;
        }
        (
            PostFilterResult { nominated_node: Some(node), clear_nomination: false },
            Status::success(),
        )
    }
}
