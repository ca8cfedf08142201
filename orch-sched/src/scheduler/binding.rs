//! The binding cycle (Permit's wait, PreBind, Bind, PostBind) and what a
//! failed one undoes; each attempt's outcome goes to the scheduler's
//! metrics.

use std::time::Instant;

use orch_core::controller::{object_reference, EventType};

use super::Shared;
use crate::cycle_state::CycleState;
use crate::framework::{Framework, QueuedPodInfo};
use crate::metrics::AttemptResult;

impl Shared {
    pub(super) async fn fail_binding(
        &self,
        fw: &Framework,
        state: &mut CycleState,
        qpi: QueuedPodInfo,
        node: &str,
        why: &str,
    ) {
        fw.run_unreserve(state, &qpi.pod, node);
        self.cache.lock().forget_pod(qpi.pod.uid());
        let message = format!("Binding rejected: {why}");
        let _ = self
            .recorder
            .record(
                &object_reference(&*qpi.pod.pod),
                EventType::Warning,
                "FailedScheduling",
                &message,
            )
            .await;
        self.queue.add_backoff(qpi);
        self.queue.move_all_to_active_or_backoff();
    }

    /// Records one scheduling attempt's outcome, from `started`.
    pub(super) fn attempted(&self, fw: &Framework, result: AttemptResult, started: Instant) {
        if let Some(m) = &self.metrics {
            m.attempt(&fw.scheduler_name, result, started.elapsed());
        }
    }

    /// The binding cycle of the attempt that began at `started`.
    pub(super) async fn bind(
        &self,
        fw: &Framework,
        mut state: CycleState,
        qpi: QueuedPodInfo,
        node: String,
        waits: bool,
        started: Instant,
    ) {
        let pod = qpi.pod.clone();
        if waits {
            let s = fw.wait_on_permit(&pod).await;
            if !s.is_success() {
                self.fail_binding(fw, &mut state, qpi, &node, &s.to_string()).await;
                return self.attempted(fw, AttemptResult::Error, started);
            }
        }
        let pre = fw.run_pre_bind(&state, &pod.pod, &node).await;
        let bound = if pre.is_success() { fw.run_bind(&state, &pod.pod, &node).await } else { pre };
        if !bound.is_success() {
            self.fail_binding(fw, &mut state, qpi, &node, &bound.to_string()).await;
            return self.attempted(fw, AttemptResult::Error, started);
        }
        self.cache.lock().finish_binding(pod.uid());
        self.queue.done(pod.uid());
        self.attempted(fw, AttemptResult::Scheduled, started);
        fw.run_post_bind(&state, &pod.pod, &node);
        if self.record_scheduled {
            let message = format!(
                "Successfully assigned {}/{} to {node}",
                pod.pod.metadata.namespace, pod.pod.metadata.name
            );
            let _ = self
                .recorder
                .record(&object_reference(&*pod.pod), EventType::Normal, "Scheduled", &message)
                .await;
        }
    }
}
