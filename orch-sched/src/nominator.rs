//! The nominator: which pending pods are nominated to which node, after
//! kube-scheduler's `PodNominator` (the `nominator` of its scheduling
//! queue).
//!
//! A pod is nominated to a node when preemption evicted pods there for it
//! (the PostFilter result, recorded with [`Nominator::nominate`]) or when
//! the scheduler sees a pending pod whose `status.nominatedNodeName` is set
//! ([`Nominator::update`], for every informer event of a pending pod, so a
//! restarted scheduler honours its predecessor's nominations). The
//! nomination goes when the pod is assumed or bound, deleted, or its
//! `nominatedNodeName` is cleared ([`Nominator::delete`]).
//!
//! Filter reads the nominations through
//! [`Framework::run_filters_with_nominated_pods`](crate::framework::Framework::run_filters_with_nominated_pods):
//! the pods nominated to a node with a priority at least the filtered pod's
//! count as already running there, so a lower-priority pod cannot take the
//! room a preemptor waits for.
//!
//! ```
//! use std::sync::Arc;
//! use orch_core::{ObjectMeta, Pod};
//! use orch_sched::cache::PodInfo;
//! use orch_sched::nominator::Nominator;
//!
//! let nominator = Nominator::default();
//! let mut pod = Pod { metadata: ObjectMeta::named("urgent"), ..Default::default() };
//! pod.metadata.uid = "u1".into();
//! nominator.nominate(Arc::new(PodInfo::new(Arc::new(pod))), "node-1");
//! assert_eq!(nominator.nominated_node("u1").as_deref(), Some("node-1"));
//! nominator.delete("u1");
//! assert!(nominator.is_empty());
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use orch_core::Pod;
use parking_lot::RwLock;

use crate::cache::PodInfo;

#[derive(Debug, Default)]
struct Inner {
    /// Node name → the pods nominated to it, in nomination order.
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    /// Pod uid → its nominated node.
    node_of: HashMap<String, String>,
}

impl Inner {
    fn remove(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let node = self.node_of.remove(uid)?;
        let pods = self.by_node.get_mut(&node)?;
        let pos = pods.iter().position(|p| p.uid() == uid)?;
        let pod = pods.remove(pos);
        if pods.is_empty() {
            self.by_node.remove(&node);
        }
        Some(pod)
    }

    fn insert(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove(pod.uid());
        // kube-scheduler nominates only pending pods.
        if node.is_empty() || is_assigned(&pod.pod) {
            return;
        }
        self.node_of.insert(pod.uid().to_owned(), node.to_owned());
        self.by_node.entry(node.to_owned()).or_default().push(pod);
    }
}

fn is_assigned(pod: &Pod) -> bool {
    pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
}

/// A pod's `status.nominatedNodeName`, if set and not empty.
pub fn status_nominated_node(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty())
}

/// The pods nominated to each node. Cheap to clone (one shared map); the
/// scheduler keeps one for all its profiles and hands it to plugins through
/// the [`Handle`](crate::framework::Handle).
#[derive(Clone, Default)]
pub struct Nominator {
    inner: Arc<RwLock<Inner>>,
}

impl std::fmt::Debug for Nominator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.inner.read().node_of.iter()).finish()
    }
}

impl Nominator {
    /// Records `pod` as nominated to `node`, replacing any earlier
    /// nomination (kube-scheduler's `AddNominatedPod` with `ModeOverride`,
    /// what the scheduler does with a PostFilter result). An empty `node`,
    /// or a pod already bound, only drops the earlier nomination.
    pub fn nominate(&self, pod: Arc<PodInfo>, node: &str) {
        self.inner.write().insert(pod, node);
    }

    /// [`nominate`](Self::nominate), if `pending` — asked under the
    /// nominator's lock — says the pod still waits to be scheduled (as
    /// kube-scheduler checks its pod lister). A deletion seen meanwhile
    /// then either comes first, and `pending` sees it, or drops the
    /// nomination after it. True if nominated.
    pub fn nominate_if(
        &self,
        pod: Arc<PodInfo>,
        node: &str,
        pending: impl FnOnce() -> bool,
    ) -> bool {
        let mut inner = self.inner.write();
        if !pending() {
            return false;
        }
        inner.insert(pod, node);
        true
    }

    /// Records `pod` as nominated to its `status.nominatedNodeName`, or drops
    /// its nomination if that is unset (`AddNominatedPod` with `ModeNoop`).
    pub fn add(&self, pod: Arc<PodInfo>) {
        let node = status_nominated_node(&pod.pod).unwrap_or_default().to_owned();
        self.inner.write().insert(pod, &node);
    }

    /// A new version of a pending pod, as kube-scheduler's
    /// `UpdateNominatedPod`: its nomination follows its
    /// `status.nominatedNodeName` (added, changed or cleared), except that
    /// when neither the version known here nor the new one carries one, a
    /// nomination recorded by [`nominate`](Self::nominate) is kept (the
    /// update raced the scheduler's own status write).
    pub fn update(&self, pod: Arc<PodInfo>) {
        let mut inner = self.inner.write();
        let uid = pod.uid().to_owned();
        let kept = match inner.node_of.get(&uid) {
            Some(node) if status_nominated_node(&pod.pod).is_none() => {
                let old_had_one = inner
                    .by_node
                    .get(node)
                    .and_then(|pods| pods.iter().find(|p| p.uid() == uid))
                    .is_some_and(|old| status_nominated_node(&old.pod).is_some());
                (!old_had_one).then(|| node.clone())
            }
            _ => None,
        };
        let node =
            kept.or_else(|| status_nominated_node(&pod.pod).map(str::to_owned)).unwrap_or_default();
        inner.insert(pod, &node);
    }

    /// Drops the pod's nomination (it was assumed, bound or deleted); true if
    /// it had one.
    pub fn delete(&self, uid: &str) -> bool {
        self.inner.write().remove(uid).is_some()
    }

    /// The node the pod is nominated to, if any.
    pub fn nominated_node(&self, uid: &str) -> Option<String> {
        self.inner.read().node_of.get(uid).cloned()
    }

    /// The pods nominated to `node`, in nomination order.
    pub fn nominated_pods_for_node(&self, node: &str) -> Vec<Arc<PodInfo>> {
        self.inner.read().by_node.get(node).cloned().unwrap_or_default()
    }

    /// Every nomination as of now, for one scheduling cycle (Filter reads
    /// it for every node without taking the lock again).
    pub fn nominated_pods(&self) -> NominatedPods {
        NominatedPods { by_node: self.inner.read().by_node.clone() }
    }

    /// Number of nominated pods.
    pub fn len(&self) -> usize {
        self.inner.read().node_of.len()
    }

    /// True if no pod is nominated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The nominations as of the start of a scheduling cycle: a copy of the
/// [`Nominator`]'s map (the pods are shared `Arc`s).
#[derive(Clone, Debug, Default)]
pub struct NominatedPods {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
}

impl NominatedPods {
    /// The pods nominated to `node`.
    pub fn on(&self, node: &str) -> &[Arc<PodInfo>] {
        self.by_node.get(node).map(Vec::as_slice).unwrap_or_default()
    }

    /// The pods nominated to `node` that `pod` must make room for, as
    /// kube-scheduler's `addGENominatedPods`: those of equal or higher
    /// priority, other than `pod` itself. A lower-priority nominee's room
    /// may be taken; it can preempt again.
    pub fn to_respect<'a>(
        &'a self,
        node: &str,
        pod: &'a PodInfo,
    ) -> impl Iterator<Item = &'a Arc<PodInfo>> + 'a {
        self.on(node).iter().filter(move |p| p.priority >= pod.priority && p.uid() != pod.uid())
    }

    /// True if no pod is nominated.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_core::kinds::pod::PodStatus;
    use orch_core::ObjectMeta;

    fn pod(uid: &str, priority: i32, status_node: Option<&str>) -> Arc<PodInfo> {
        let mut p = Pod { metadata: ObjectMeta::named(uid), ..Default::default() };
        p.metadata.uid = uid.into();
        p.spec.priority = Some(priority);
        p.status = status_node
            .map(|n| PodStatus { nominated_node_name: Some(n.into()), ..Default::default() });
        Arc::new(PodInfo::new(Arc::new(p)))
    }

    fn uids(pods: &[Arc<PodInfo>]) -> Vec<&str> {
        pods.iter().map(|p| p.uid()).collect()
    }

    #[test]
    fn nominate_moves_and_delete_forgets() {
        let n = Nominator::default();
        n.nominate(pod("a", 10, None), "n1");
        n.nominate(pod("b", 5, None), "n1");
        assert_eq!(uids(&n.nominated_pods_for_node("n1")), ["a", "b"]);
        // A new nomination replaces the old one.
        n.nominate(pod("a", 10, None), "n2");
        assert_eq!(uids(&n.nominated_pods_for_node("n1")), ["b"]);
        assert_eq!(n.nominated_node("a").as_deref(), Some("n2"));
        // An empty node clears it.
        n.nominate(pod("b", 5, None), "");
        assert!(n.nominated_pods_for_node("n1").is_empty());
        // Not pending any more (deleted meanwhile): not nominated.
        assert!(!n.nominate_if(pod("c", 0, None), "n1", || false));
        assert_eq!(n.nominated_node("c"), None);
        assert!(n.nominate_if(pod("c", 0, None), "n1", || true));
        assert!(n.delete("c"));
        assert!(n.delete("a"));
        assert!(!n.delete("a"));
        assert!(n.is_empty());
        assert!(n.nominated_pods().is_empty());
    }

    #[test]
    fn add_and_update_follow_the_status() {
        let n = Nominator::default();
        n.add(pod("a", 0, Some("n1")));
        assert_eq!(n.nominated_node("a").as_deref(), Some("n1"));
        // Changed in the status: follows it.
        n.update(pod("a", 0, Some("n2")));
        assert_eq!(n.nominated_node("a").as_deref(), Some("n2"));
        // Cleared in the status: gone.
        n.update(pod("a", 0, None));
        assert_eq!(n.nominated_node("a"), None);
        // A pod without one is not nominated.
        n.add(pod("b", 0, None));
        n.update(pod("b", 0, None));
        assert!(n.is_empty());
    }

    #[test]
    fn an_update_without_status_keeps_the_schedulers_own_nomination() {
        let n = Nominator::default();
        // The scheduler nominated it (PostFilter) before its status write
        // came back through the informer.
        n.nominate(pod("a", 100, None), "n1");
        n.update(pod("a", 100, None));
        assert_eq!(n.nominated_node("a").as_deref(), Some("n1"));
        // The status write arrives; a later clearing of it is honoured.
        n.update(pod("a", 100, Some("n1")));
        n.update(pod("a", 100, None));
        assert_eq!(n.nominated_node("a"), None);
    }

    #[test]
    fn bound_pods_are_not_nominated() {
        let n = Nominator::default();
        let mut p = (*pod("a", 0, Some("n1")).pod).clone();
        p.spec.node_name = Some("n1".into());
        n.nominate(pod("a", 0, None), "n1");
        n.update(Arc::new(PodInfo::new(Arc::new(p))));
        assert!(n.is_empty());
    }

    #[test]
    fn only_equal_or_higher_priority_nominees_other_than_the_pod_are_respected() {
        let n = Nominator::default();
        let (low, mid, high) = (pod("low", 1, None), pod("mid", 5, None), pod("high", 9, None));
        for p in [&low, &mid, &high] {
            n.nominate(p.clone(), "n1");
        }
        n.nominate(pod("elsewhere", 9, None), "n2");
        let view = n.nominated_pods();
        let respected = |p: &PodInfo, node: &str| -> Vec<String> {
            view.to_respect(node, p).map(|q| q.uid().to_owned()).collect()
        };
        assert_eq!(respected(&pod("new", 5, None), "n1"), ["mid", "high"]);
        assert_eq!(respected(&pod("new", 0, None), "n1"), ["low", "mid", "high"]);
        assert!(respected(&pod("new", 10, None), "n1").is_empty());
        // A nominee does not make room for itself.
        assert_eq!(respected(&mid, "n1"), ["high"]);
        assert!(respected(&pod("new", 0, None), "n3").is_empty());
    }
}
