//! The `Reconciler` trait: what a controller does with one object.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::object_key::ObjectKey;
use crate::resource::Resource;

/// What to do after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
    backoff: bool,
}

impl Action {
    /// Reconcile again only when something relevant changes.
    pub fn await_change() -> Self {
        Action { requeue_after: None, backoff: false }
    }

    /// Reconcile again after `after`, or sooner if something changes.
    pub fn requeue(after: Duration) -> Self {
        Action { requeue_after: Some(after), backoff: false }
    }

    /// Reconcile again after the key's rate-limited backoff (5 ms doubling
    /// to 1000 s per key, within the overall bucket): the default after an
    /// error.
    pub fn requeue_with_backoff() -> Self {
        Action { requeue_after: None, backoff: true }
    }

    /// The delay asked for, if any.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }

    /// True if the key should go back through the rate limiter.
    pub fn is_backoff(&self) -> bool {
        self.backoff
    }
}

/// What a reconcile knows besides the object.
#[derive(Clone, Debug)]
pub struct Context {
    /// The object's key.
    pub key: ObjectKey,
    /// Failed reconciles of this key since its last success.
    pub retries: u32,
    /// Cancelled when the controller shuts down; a long reconcile may stop
    /// early, leaving a state the next reconcile can continue from.
    pub shutdown: CancellationToken,
}

/// A controller's logic for one kind.
///
/// The `Reconciler` trait: what a controller does with one object.
///
/// A reconcile reads the desired state (the object) and the actual state
/// (usually from informer caches), and acts to bring the second towards the
/// first. It must be idempotent: it is called again after every change, after
/// a resync, after a restart, and sometimes for no reason at all — so it
/// must decide from the state it sees, never from "what happened".
///
/// The pitfall, and its fix:
///
/// ```text
/// // Wrong: counts events. A repeated or missed event breaks it.
/// on_pod_deleted => create one pod
/// // Right: compares states. Any number of calls converge.
/// missing = desired_replicas - pods_owned_now; create `missing` pods
/// ```
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// The kind reconciled.
    type Object: Resource;
    /// The error a reconcile may fail with.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Brings the world towards `obj`'s desired state.
    async fn reconcile(&self, obj: Arc<Self::Object>, ctx: &Context)
        -> Result<Action, Self::Error>;

    /// What to do after `reconcile` failed. The default retries with the
    /// key's rate-limited backoff.
    fn error_policy(&self, obj: &Self::Object, error: &Self::Error, ctx: &Context) -> Action {
        let _ = (obj, error, ctx);
        Action::requeue_with_backoff()
    }
}
