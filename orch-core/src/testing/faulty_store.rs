//! [`FaultyStore`]: a [`Store`] that can be cut off, made slow to list, and
//! that records the keys it created.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::store::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseGrant, LeaseTimeToLive, PutRequest,
    PutResponse, RangeRequest, RangeResponse, Store, TxnRequest, TxnResponse, WatchRequest,
    WatchStream,
};
use crate::{Error, Result};

/// Wraps a [`Store`] with faults for tests:
///
/// * [`cut`](Self::cut) partitions it: every call fails with
///   [`Error::Unavailable`] until [`heal`](Self::heal);
/// * [`slow_lists`](Self::slow_lists) makes every `range` of keys under a
///   prefix take longer (a slow informer's first list);
/// * [`created`](Self::created) lists the keys it created through a `txn`
///   guarded by "key absent" (how [`Api::create`](crate::Api::create)
///   writes), in order.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    cut: AtomicBool,
    slow_prefix: Vec<u8>,
    slow_delay: Duration,
    created: Mutex<Vec<String>>,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("cut", &self.cut.load(Ordering::SeqCst))
            .field("slow_prefix", &String::from_utf8_lossy(&self.slow_prefix))
            .field("slow_delay", &self.slow_delay)
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// `inner` without faults until [`cut`](Self::cut).
    pub fn new(inner: Arc<dyn Store>) -> FaultyStore {
        FaultyStore::slow_lists(inner, "", Duration::ZERO)
    }

    /// `inner`, where every `range` whose key starts with `prefix` first
    /// waits `delay`.
    pub fn slow_lists(inner: Arc<dyn Store>, prefix: &str, delay: Duration) -> FaultyStore {
        FaultyStore {
            inner,
            cut: AtomicBool::new(false),
            slow_prefix: prefix.as_bytes().to_vec(),
            slow_delay: delay,
            created: Mutex::new(Vec::new()),
        }
    }

    /// Partitions the store: every call fails with `Unavailable`.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Ends a [`cut`](Self::cut).
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// The keys created through this store so far (UTF-8, lossy), oldest first.
    pub fn created(&self) -> Vec<String> {
        self.created.lock().clone()
    }

    fn check(&self) -> Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            Err(Error::Unavailable("partitioned (FaultyStore::cut)".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.check()?;
        if !self.slow_delay.is_zero() && req.range.key.starts_with(&self.slow_prefix) {
            tokio::time::sleep(self.slow_delay).await;
        }
        self.inner.range(req).await
    }
    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        self.check()?;
        self.inner.put(req).await
    }
    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        self.check()?;
        self.inner.delete_range(req).await
    }
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        self.check()?;
        let created: Vec<String> = req
            .compare
            .iter()
            .filter(|c| **c == Compare::absent(c.range.key.clone()))
            .map(|c| String::from_utf8_lossy(&c.range.key).into_owned())
            .collect();
        let response = self.inner.txn(req).await?;
        if response.succeeded {
            self.created.lock().extend(created);
        }
        Ok(response)
    }
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        self.check()?;
        self.inner.watch(req).await
    }
    async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant> {
        self.check()?;
        self.inner.lease_grant(ttl_seconds, id).await
    }
    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        self.check()?;
        self.inner.lease_keep_alive(id).await
    }
    async fn lease_revoke(&self, id: i64) -> Result<()> {
        self.check()?;
        self.inner.lease_revoke(id).await
    }
    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        self.check()?;
        self.inner.lease_time_to_live(id, keys).await
    }
    async fn leases(&self) -> Result<Vec<i64>> {
        self.check()?;
        self.inner.leases().await
    }
    async fn compact(&self, revision: i64) -> Result<()> {
        self.check()?;
        self.inner.compact(revision).await
    }
}
