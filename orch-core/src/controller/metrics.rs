//! Controller metrics in Prometheus' text format (prometheus-client):
//! `orch_controller_reconcile_total`, `…_reconcile_errors_total`,
//! `…_reconcile_duration_seconds` (histogram), `…_queue_depth`,
//! `…_retries_total`, each labelled with the controller's name.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn duration_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The metrics of every controller registered with one registry.
#[derive(Debug)]
pub struct ControllerMetrics {
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    queue_depth: Family<Labels, Gauge>,
    retries: Family<Labels, Counter>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            queue_depth: Family::default(),
            retries: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Creates the metrics and registers them under the `orch_controller` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let sub = registry.sub_registry_with_prefix("orch_controller");
        sub.register("reconcile", "Reconciles run", m.reconciles.clone());
        sub.register("reconcile_errors", "Reconciles that failed", m.errors.clone());
        sub.register("reconcile_duration_seconds", "Time spent in reconcile", m.duration.clone());
        sub.register("queue_depth", "Keys waiting in the work queue", m.queue_depth.clone());
        sub.register("retries", "Keys requeued with backoff after an error", m.retries.clone());
        m
    }

    fn labels(controller: &str) -> Labels {
        vec![("controller".to_owned(), controller.to_owned())]
    }

    pub(crate) fn reconciled(&self, controller: &str, seconds: f64, failed: bool) {
        let l = Self::labels(controller);
        self.reconciles.get_or_create(&l).inc();
        self.duration.get_or_create(&l).observe(seconds);
        if failed {
            self.errors.get_or_create(&l).inc();
        }
    }

    pub(crate) fn retried(&self, controller: &str) {
        self.retries.get_or_create(&Self::labels(controller)).inc();
    }

    pub(crate) fn queue_depth(&self, controller: &str, depth: usize) {
        self.queue_depth.get_or_create(&Self::labels(controller)).set(depth as i64);
    }

    /// Reconciles counted for `controller` so far.
    pub fn reconcile_count(&self, controller: &str) -> u64 {
        self.reconciles.get_or_create(&Self::labels(controller)).get()
    }

    /// Failed reconciles counted for `controller` so far.
    pub fn error_count(&self, controller: &str) -> u64 {
        self.errors.get_or_create(&Self::labels(controller)).get()
    }
}

/// The registry's metrics in Prometheus' text exposition format.
pub fn encode_text(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, registry);
    out
}
