//! Objects that expire, as kube-apiserver's `--event-ttl` (1 h) expires
//! Events: writes through an Api made [`with_ttl`](super::Api::with_ttl)
//! attach the object's key to a store lease, so the store deletes it once
//! the TTL has passed since its last write. One lease serves every write of
//! a reuse window (5 % of the TTL, at most 60 s, as kube-apiserver's lease
//! manager), granted for TTL + window so that no object lives less than its
//! TTL.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::store::Store;
use crate::{Error, Result};

/// kube-apiserver's default `--event-ttl`: one hour.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(3600);

/// The leases of one TTL, shared by the Apis that write with it. See the
/// [module docs](self).
#[derive(Debug)]
pub struct TtlLeases {
    ttl: Duration,
    reuse: Duration,
    /// The lease of the current window: its ID and when it was granted.
    current: Mutex<Option<(i64, Instant)>>,
}

impl TtlLeases {
    /// Leases for objects that live `ttl` (whole seconds, at least 1) after
    /// their last write.
    pub fn new(ttl: Duration) -> Self {
        let ttl = ttl.max(Duration::from_secs(1));
        TtlLeases { ttl, reuse: (ttl / 20).min(Duration::from_secs(60)), current: Mutex::new(None) }
    }

    /// The TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The lease the next write attaches to: this window's, or a new one.
    ///
    /// Errors: the store's `lease_grant`.
    pub(crate) async fn lease(&self, store: &dyn Store) -> Result<i64> {
        if let Some((id, at)) = *self.current.lock() {
            if at.elapsed() < self.reuse {
                return Ok(id);
            }
        }
        let seconds = (self.ttl + self.reuse).as_secs_f64().ceil() as i64;
        let grant = store.lease_grant(seconds, 0).await?;
        *self.current.lock() = Some((grant.id, Instant::now()));
        Ok(grant.id)
    }

    /// Forgets a lease the store no longer has (a write named it and got
    /// `LeaseNotFound`): the next write gets a new one.
    pub(crate) fn forget(&self, error: &Error) {
        if let Error::LeaseNotFound(id) = error {
            let mut current = self.current.lock();
            if current.is_some_and(|(c, _)| c == *id) {
                *current = None;
            }
        }
    }
}
