//! The controller runtime: everything a reconciliation loop needs, each
//! piece usable alone.
//!
//! * [`watcher`] — list, then watch, relisting when history is gone.
//! * [`Cache`] — the reflector cache of `Arc<K>` with indexes.
//! * [`Informer`] and [`InformerFactory`] — one shared watch per kind.
//! * [`WorkQueue`] and [`RateLimiter`] — client-go's work queue semantics.
//! * [`Reconciler`] and [`Controller`] — the runner: `owns`, `watches`,
//!   bounded concurrency, backoff, graceful shutdown, metrics.
//! * [`LeaderElector`] — one active instance, on a Lease.
//! * [`EventRecorder`] — Events with repeats aggregated.
//! * [`finalizer()`] — cleanup before deletion.

mod cache;
mod events;
mod finalizer;
mod informer;
mod leader_election;
pub mod metrics;
mod object_key;
mod queue;
mod rate_limit;
mod reconciler;
mod runner;
mod token_bucket;
mod watcher;

pub use cache::{Cache, IndexFn, INDEX_LABEL, INDEX_NAMESPACE, INDEX_NODE_NAME, INDEX_OWNER};
pub use events::{object_reference, EventRecorder, EventType, SPAM_BURST, SPAM_REFILL};
pub use finalizer::{finalizer, FinalizerEvent};
pub use informer::{Informer, InformerEvent, InformerFactory, Subscription};
pub use leader_election::{LeaderElectionConfig, LeaderElector};
pub use metrics::{ControllerMetrics, WorkQueueMetrics};
pub use object_key::ObjectKey;
pub use queue::WorkQueue;
pub use rate_limit::{RateLimiter, RateLimiterConfig};
pub use reconciler::{Action, Context, Reconciler};
pub use runner::Controller;
pub use token_bucket::TokenBucket;
pub use watcher::{watcher, WatcherConfig, WatcherEvent};
