//! [`Compactor`]: compacts a store's history periodically, as
//! kube-apiserver does for etcd.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{
    Compare, CompareResult, CompareTarget, KeyRange, PutRequest, RangeRequest, Store, TxnOp,
    TxnOpResponse, TxnRequest,
};
use crate::{Error, Result};

/// Compacts a [`Store`]'s history every interval, keeping one interval of
/// it: each round compacts to the revision the previous round saw. This is
/// kube-apiserver's compactor (`--etcd-compaction-interval`, default 5
/// minutes): without it MVCC history grows with every write for ever.
///
/// Several compactors on one store (several control-plane processes)
/// coordinate as kube-apiserver's do, through the version of the key
/// [`Compactor::KEY`]: a round compacts only if that version is still what
/// this compactor last saw, and bumps it in the same transaction, so one
/// compaction happens per interval whichever process wins.
///
/// ```no_run
/// # async fn example(store: std::sync::Arc<dyn orch_core::store::Store>) {
/// use orch_core::store::Compactor;
/// let stop = tokio_util::sync::CancellationToken::new();
/// tokio::spawn(Compactor::new(store, Compactor::DEFAULT_INTERVAL).run(stop.clone()));
/// # }
/// ```
#[must_use = "a Compactor does nothing until run"]
pub struct Compactor {
    store: Arc<dyn Store>,
    interval: Duration,
    /// The version of [`Compactor::KEY`] this compactor last saw: the
    /// cluster's "compaction time".
    compact_time: i64,
    /// The store's revision at the last round: what the next round compacts to.
    revision: i64,
}

impl Compactor {
    /// kube-apiserver's default interval: 5 minutes.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

    /// The coordination key (kube-apiserver's `compact_rev_key`). Its value
    /// is the revision last compacted to, as decimal text.
    pub const KEY: &'static str = "compact_rev_key";

    /// A compactor for `store` that runs a round every `interval`.
    pub fn new(store: Arc<dyn Store>, interval: Duration) -> Self {
        Compactor { store, interval, compact_time: 0, revision: 0 }
    }

    /// Runs a round every interval (the first after one interval) until
    /// `shutdown` is cancelled. A failed round is logged and retried at the
    /// next interval.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            if let Err(e) = self.compact_once().await {
                tracing::warn!(error = %e, "compaction round failed; retrying next interval");
            }
        }
    }

    /// One round: if no other compactor has run since this one last looked,
    /// claim the round and compact to the revision seen at the previous
    /// round. Returns the revision compacted to; `None` if another compactor
    /// had the round, or on this compactor's first round (nothing seen yet).
    ///
    /// Errors: the store's. A compaction that another process already took
    /// further ([`Error::Compacted`]) is not an error.
    pub async fn compact_once(&mut self) -> Result<Option<i64>> {
        let claim = TxnRequest {
            compare: vec![Compare::new(
                Self::KEY,
                CompareResult::Equal,
                CompareTarget::Version(self.compact_time),
            )],
            success: vec![TxnOp::Put(PutRequest::new(Self::KEY, self.revision.to_string()))],
            failure: vec![TxnOp::Range(RangeRequest::new(KeyRange::key(Self::KEY)))],
        };
        let resp = self.store.txn(claim).await?;
        let previous = std::mem::replace(&mut self.revision, resp.header.revision);
        if !resp.succeeded {
            // Another compactor ran: adopt its compaction time.
            self.compact_time = match resp.responses.first() {
                Some(TxnOpResponse::Range(r)) => r.kvs.first().map_or(0, |kv| kv.version),
                _ => 0,
            };
            return Ok(None);
        }
        self.compact_time += 1;
        if previous == 0 {
            return Ok(None);
        }
        match self.store.compact(previous).await {
            Ok(()) => Ok(Some(previous)),
            Err(Error::Compacted { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
