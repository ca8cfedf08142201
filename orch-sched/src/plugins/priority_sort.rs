//! PrioritySort (QueueSort): higher `spec.priority` first, then the pod that
//! has waited longest.

use crate::framework::{QueueSortPlugin, QueuedPodInfo};

/// The PrioritySort plugin.
#[derive(Debug, Default)]
pub struct PrioritySort;

impl QueueSortPlugin for PrioritySort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        let (pa, pb) = (a.pod.priority, b.pod.priority);
        pa > pb || (pa == pb && a.enqueued_at < b.enqueued_at)
    }
}
