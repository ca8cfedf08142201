//! The scheduler's metrics under kube-scheduler's names (Prometheus; the
//! prometheus-client crate):
//!
//! * `scheduler_schedule_attempts_total{result, profile}` — scheduling
//!   attempts by outcome: `scheduled` (bound), `unschedulable` (no node
//!   fits; preemption may have nominated one), `error` (a plugin or the
//!   binding failed);
//! * `scheduler_scheduling_attempt_duration_seconds{result, profile}` —
//!   histogram of the same attempts, from the pod's pop off the queue to
//!   its outcome (for `scheduled`, the binding's end), in seconds
//!   (kube-scheduler's buckets: 1 ms to ~16 s);
//! * `scheduler_pending_pods{queue}` — pods waiting, by queue: `active`,
//!   `backoff`, `unschedulable`, `gated` (sampled every second while the
//!   scheduler runs; 0 once it stops).
//!
//! ```
//! use std::sync::Arc;
//! use orch_sched::metrics::SchedulerMetrics;
//! use orch_sched::scheduler::SchedulerConfig;
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let metrics = Arc::new(SchedulerMetrics::register(&mut registry));
//! let config = SchedulerConfig { metrics: Some(metrics), ..Default::default() };
//! # drop(config);
//! ```

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::queue::PendingPods;

/// The outcome of one scheduling attempt (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// Bound to a node.
    Scheduled,
    /// No node fits.
    Unschedulable,
    /// A plugin, the reservation or the binding failed.
    Error,
}

impl AttemptResult {
    fn label(self) -> &'static str {
        match self {
            AttemptResult::Scheduled => "scheduled",
            AttemptResult::Unschedulable => "unschedulable",
            AttemptResult::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    result: &'static str,
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

fn attempt_histogram() -> Histogram {
    // kube-scheduler's: ExponentialBuckets(0.001, 2, 15).
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// kube-scheduler's scheduling metrics (see the [module docs](self)).
/// Give it to [`SchedulerConfig::metrics`](crate::scheduler::SchedulerConfig::metrics);
/// schedulers built again on each leadership share it.
#[derive(Debug)]
pub struct SchedulerMetrics {
    attempts: Family<AttemptLabels, Counter>,
    duration: Family<AttemptLabels, Histogram, fn() -> Histogram>,
    pending: Family<QueueLabels, Gauge>,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        SchedulerMetrics {
            attempts: Family::default(),
            duration: Family::new_with_constructor(attempt_histogram),
            pending: Family::default(),
        }
    }
}

impl SchedulerMetrics {
    /// Creates the metrics and registers them under the `scheduler` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let sub = registry.sub_registry_with_prefix("scheduler");
        sub.register(
            "schedule_attempts",
            "Number of attempts to schedule pods, by the result.",
            m.attempts.clone(),
        );
        sub.register(
            "scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            m.duration.clone(),
        );
        sub.register(
            "pending_pods",
            "Number of pending pods, by the queue type.",
            m.pending.clone(),
        );
        m
    }

    /// Records one attempt of `profile` that ended with `result` after
    /// `took`.
    pub fn attempt(&self, profile: &str, result: AttemptResult, took: Duration) {
        let labels = AttemptLabels { result: result.label(), profile: profile.to_owned() };
        self.attempts.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// Attempts of `profile` that ended with `result` so far.
    pub fn attempts(&self, profile: &str, result: AttemptResult) -> u64 {
        let labels = AttemptLabels { result: result.label(), profile: profile.to_owned() };
        self.attempts.get_or_create(&labels).get()
    }

    /// Sets `scheduler_pending_pods` to the queue's counts.
    pub fn pending(&self, counts: PendingPods) {
        for (queue, n) in [
            ("active", counts.active),
            ("backoff", counts.backoff),
            ("unschedulable", counts.unschedulable),
            ("gated", counts.gated),
        ] {
            self.pending.get_or_create(&QueueLabels { queue }).set(n as i64);
        }
    }
}
