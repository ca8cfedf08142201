//! Controller metrics in Prometheus' text format (prometheus-client):
//!
//! * client-go's workqueue metrics, labelled with the queue's `name` (the
//!   controller's): `workqueue_depth` (gauge), `workqueue_adds_total`,
//!   `workqueue_queue_duration_seconds` (histogram: how long an item
//!   waited before a worker took it), `workqueue_work_duration_seconds`
//!   (histogram: how long its processing took), `workqueue_retries_total`
//!   (rate-limited re-adds);
//! * reconcile outcomes, labelled with the `controller`:
//!   `orch_controller_reconcile_total` and
//!   `orch_controller_reconcile_errors_total` (as controller-runtime's
//!   `controller_runtime_reconcile_total` / `_errors_total`).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn duration_histogram() -> Histogram {
    // client-go's buckets: ExponentialBuckets(10e-9, 10, 12), 10 ns to 1000 s.
    Histogram::new([1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0])
}

/// The metrics of every controller (and work queue) registered with one
/// registry. Share it (`Arc`) between the controllers of a process.
#[derive(Debug)]
pub struct ControllerMetrics {
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    depth: Family<Labels, Gauge>,
    adds: Family<Labels, Counter>,
    queue_duration: Family<Labels, Histogram, fn() -> Histogram>,
    work_duration: Family<Labels, Histogram, fn() -> Histogram>,
    retries: Family<Labels, Counter>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            errors: Family::default(),
            depth: Family::default(),
            adds: Family::default(),
            queue_duration: Family::new_with_constructor(duration_histogram),
            work_duration: Family::new_with_constructor(duration_histogram),
            retries: Family::default(),
        }
    }
}

/// One work queue's metrics (handles on the families of a
/// [`ControllerMetrics`]); give it to [`WorkQueue::set_metrics`](super::WorkQueue::set_metrics).
#[derive(Clone, Debug)]
pub struct WorkQueueMetrics {
    pub(crate) depth: Gauge,
    pub(crate) adds: Counter,
    pub(crate) queue_duration: Histogram,
    pub(crate) work_duration: Histogram,
    pub(crate) retries: Counter,
}

impl ControllerMetrics {
    /// Creates the metrics and registers them: the `workqueue_*` family
    /// at the registry's root, the reconcile counters under the
    /// `orch_controller` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let q = registry.sub_registry_with_prefix("workqueue");
        q.register("depth", "Current depth of workqueue", m.depth.clone());
        q.register("adds", "Total number of adds handled by workqueue", m.adds.clone());
        q.register(
            "queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            m.queue_duration.clone(),
        );
        q.register(
            "work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            m.work_duration.clone(),
        );
        q.register("retries", "Total number of retries handled by workqueue", m.retries.clone());
        let sub = registry.sub_registry_with_prefix("orch_controller");
        sub.register("reconcile", "Reconciles run", m.reconciles.clone());
        sub.register("reconcile_errors", "Reconciles that failed", m.errors.clone());
        m
    }

    fn labels(key: &str, value: &str) -> Labels {
        vec![(key.to_owned(), value.to_owned())]
    }

    /// The metrics of the work queue `name` (client-go's `name` label).
    pub fn work_queue(&self, name: &str) -> WorkQueueMetrics {
        let l = Self::labels("name", name);
        WorkQueueMetrics {
            depth: self.depth.get_or_create(&l).clone(),
            adds: self.adds.get_or_create(&l).clone(),
            queue_duration: self.queue_duration.get_or_create(&l).clone(),
            work_duration: self.work_duration.get_or_create(&l).clone(),
            retries: self.retries.get_or_create(&l).clone(),
        }
    }

    pub(crate) fn reconciled(&self, controller: &str, failed: bool) {
        let l = Self::labels("controller", controller);
        self.reconciles.get_or_create(&l).inc();
        if failed {
            self.errors.get_or_create(&l).inc();
        }
    }

    /// Reconciles counted for `controller` so far.
    pub fn reconcile_count(&self, controller: &str) -> u64 {
        self.reconciles.get_or_create(&Self::labels("controller", controller)).get()
    }

    /// Failed reconciles counted for `controller` so far.
    pub fn error_count(&self, controller: &str) -> u64 {
        self.errors.get_or_create(&Self::labels("controller", controller)).get()
    }
}

/// The registry's metrics in Prometheus' text exposition format.
pub fn encode_text(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, registry);
    out
}
