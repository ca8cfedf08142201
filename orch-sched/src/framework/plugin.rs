//! The plugin traits, one per kube-scheduler extension point.
//!
//! A plugin implements the points it needs and is registered by name; its
//! factory returns a [`PluginSet`] that says which points it serves. Filter
//! and Score run for many nodes per pod, so they are plain synchronous calls
//! over the cycle's snapshot; only the binding points (PreBind, Bind) are
//! async, and they run off the scheduling path.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orch_core::Pod;

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::status::Status;

/// A pod waiting in the scheduling queue, as QueueSort sees it.
#[derive(Clone, Debug)]
pub struct QueuedPodInfo {
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// When it first entered the queue (monotonic), for FIFO order within a priority.
    pub enqueued_at: tokio::time::Instant,
    /// Scheduling attempts so far.
    pub attempts: u32,
}

/// A node's score from one plugin: 0–100 after normalization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeScore {
    /// Index of the node in the snapshot.
    pub node: usize,
    /// The score.
    pub score: i64,
}

/// The highest score a node gets from one plugin after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

/// Decides whether a pod may enter the active queue at all.
pub trait PreEnqueuePlugin: Send + Sync {
    /// `Success` to queue it; otherwise it is parked as gated (Kubernetes'
    /// `SchedulingGated`) and asked again at every cluster event (a node
    /// added or changed, a pod deleted, …) and every update of the pod.
    fn pre_enqueue(&self, pod: &PodInfo) -> Status;
}

/// Orders the active queue.
pub trait QueueSortPlugin: Send + Sync {
    /// True if `a` should be scheduled before `b`.
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// Runs once per pod before filtering: precomputes, or rejects early.
pub trait PreFilterPlugin: Send + Sync {
    /// `Skip` means this plugin's Filter has nothing to check for this pod.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status;
}

/// Decides whether a pod can run on a node.
pub trait FilterPlugin: Send + Sync {
    /// `Success` if the node fits; a rejection with its reason if not.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// What a PostFilter achieved, and what becomes of the pod's nomination
/// (kube-scheduler's `NominatingInfo`): nominated to `nominated_node`
/// (`ModeOverride`), dropped when `clear_nomination` is set (`ModeOverride`
/// with no node: preemption found no node that would help), otherwise left
/// as it is (`ModeNoop`: e.g. the pod waits for its earlier victims).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostFilterResult {
    /// A node the pod may get once victims are gone (preemption).
    pub nominated_node: Option<String>,
    /// Drop the pod's nomination (when `nominated_node` is `None`).
    pub clear_nomination: bool,
}

/// Runs when no node fits (preemption).
#[async_trait]
pub trait PostFilterPlugin: Send + Sync {
    /// Tries to make room; `statuses` says why each node was rejected. `fw`
    /// runs the profile's filters on what-if nodes.
    async fn post_filter(
        &self,
        fw: &crate::framework::Framework,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        statuses: &[(usize, Status)],
    ) -> (PostFilterResult, Status);
}

/// Runs once per pod before scoring, over the feasible nodes.
pub trait PreScorePlugin: Send + Sync {
    /// Precomputes what Score needs; `Skip` skips this plugin's Score.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status;
}

/// Ranks feasible nodes.
pub trait ScorePlugin: Send + Sync {
    /// A raw score for one node.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status>;

    /// Maps raw scores to 0–[`MAX_NODE_SCORE`]. The default leaves them as
    /// they are (for plugins that already score in that range).
    fn normalize(&self, state: &CycleState, pod: &PodInfo, scores: &mut [NodeScore]) -> Status {
        let _ = (state, pod, scores);
        Status::success()
    }
}

/// Holds resources for a pod once a node is chosen; undoes that on failure.
pub trait ReservePlugin: Send + Sync {
    /// Reserves; a failure unreserves every reserve plugin.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status;
    /// Undoes `reserve`; must be idempotent.
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

/// Lets a pod bind, refuses it, or holds it (`Wait`) for at most the
/// returned timeout until [`WaitingPods::allow`](crate::framework::WaitingPods::allow)
/// or `reject` is called.
pub trait PermitPlugin: Send + Sync {
    /// `Success`, a rejection, or `Wait` with its timeout.
    fn permit(&self, state: &CycleState, pod: &PodInfo, node: &str) -> (Status, Duration);
}

/// Runs before binding (e.g. to provision something the pod needs).
#[async_trait]
pub trait PreBindPlugin: Send + Sync {
    /// A failure aborts the binding.
    async fn pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

/// Binds the pod to the node. The first binder that does not `Skip` wins.
#[async_trait]
pub trait BindPlugin: Send + Sync {
    /// `Success` once bound, `Skip` to leave it to the next binder.
    async fn bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

/// Told after a successful bind.
pub trait PostBindPlugin: Send + Sync {
    /// Informational.
    fn post_bind(&self, state: &CycleState, pod: &Pod, node: &str);
}

/// The extension points one plugin serves, as its factory builds it.
#[derive(Clone, Default)]
pub struct PluginSet {
    /// PreEnqueue.
    pub pre_enqueue: Option<Arc<dyn PreEnqueuePlugin>>,
    /// QueueSort.
    pub queue_sort: Option<Arc<dyn QueueSortPlugin>>,
    /// PreFilter.
    pub pre_filter: Option<Arc<dyn PreFilterPlugin>>,
    /// Filter.
    pub filter: Option<Arc<dyn FilterPlugin>>,
    /// PostFilter.
    pub post_filter: Option<Arc<dyn PostFilterPlugin>>,
    /// PreScore.
    pub pre_score: Option<Arc<dyn PreScorePlugin>>,
    /// Score (with NormalizeScore).
    pub score: Option<Arc<dyn ScorePlugin>>,
    /// Reserve and Unreserve.
    pub reserve: Option<Arc<dyn ReservePlugin>>,
    /// Permit.
    pub permit: Option<Arc<dyn PermitPlugin>>,
    /// PreBind.
    pub pre_bind: Option<Arc<dyn PreBindPlugin>>,
    /// Bind.
    pub bind: Option<Arc<dyn BindPlugin>>,
    /// PostBind.
    pub post_bind: Option<Arc<dyn PostBindPlugin>>,
}

impl std::fmt::Debug for PluginSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginSet { ")?;
        for (name, present) in self.points() {
            if present {
                write!(f, "{name} ")?;
            }
        }
        f.write_str("}")
    }
}

impl PluginSet {
    /// The extension points and whether this set serves each.
    pub fn points(&self) -> [(&'static str, bool); 12] {
        [
            ("preEnqueue", self.pre_enqueue.is_some()),
            ("queueSort", self.queue_sort.is_some()),
            ("preFilter", self.pre_filter.is_some()),
            ("filter", self.filter.is_some()),
            ("postFilter", self.post_filter.is_some()),
            ("preScore", self.pre_score.is_some()),
            ("score", self.score.is_some()),
            ("reserve", self.reserve.is_some()),
            ("permit", self.permit.is_some()),
            ("preBind", self.pre_bind.is_some()),
            ("bind", self.bind.is_some()),
            ("postBind", self.post_bind.is_some()),
        ]
    }
}
