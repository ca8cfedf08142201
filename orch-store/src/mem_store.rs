//! `MemStore`: the in-process `Store`, with etcd v3's semantics.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use orch_core::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, KeyValue,
    LeaseGrant, LeaseTimeToLive, PutRequest, PutResponse, RangeRequest, RangeResponse,
    ResponseHeader, Store, TxnOp, TxnOpResponse, TxnRequest, TxnResponse, WatchRequest,
    WatchStream,
};
use orch_core::{Error, Result};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::image::Image;
use crate::lease::Leases;
use crate::mvcc::{Batch, Mvcc};
use crate::watch::{self, Registered};

/// Settings of a [`MemStore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MemStoreConfig {
    /// Batches (revisions) a synced watcher may have queued before it is moved
    /// to catching up from history. Default 1024.
    pub watch_buffer_batches: usize,
    /// Interval of progress notifications for watches that ask for them.
    /// Default 10 minutes, etcd's default.
    pub progress_notify_interval: Duration,
    /// Largest value a put accepts, in bytes. Default 2 MiB: room for the
    /// Api's 1.5 MiB objects plus their keys (etcd's `--max-request-bytes`
    /// plays this part there).
    pub max_value_bytes: usize,
    /// Smallest TTL a lease is granted, in seconds; lower requests are raised
    /// to it (as etcd raises them to its minimum). Default 1.
    pub min_lease_ttl_seconds: i64,
    /// Whether the store expires leases itself (default true). A replicated
    /// store turns this off: its leader decides expiry (see
    /// [`MemStore::expired_leases`]) and every member revokes through the
    /// log, so that all delete the same keys at the same revision.
    pub expire_leases: bool,
}

impl Default for MemStoreConfig {
    fn default() -> Self {
        MemStoreConfig {
            watch_buffer_batches: 1024,
            progress_notify_interval: Duration::from_secs(600),
            max_value_bytes: 2 * 1024 * 1024,
            min_lease_ttl_seconds: 1,
            expire_leases: true,
        }
    }
}

impl MemStoreConfig {
    /// Sets [`watch_buffer_batches`](Self::watch_buffer_batches).
    #[must_use]
    pub fn watch_buffer_batches(mut self, batches: usize) -> Self {
        self.watch_buffer_batches = batches.max(1);
        self
    }

    /// Sets [`progress_notify_interval`](Self::progress_notify_interval).
    #[must_use]
    pub fn progress_notify_interval(mut self, interval: Duration) -> Self {
        self.progress_notify_interval = interval;
        self
    }

    /// Sets [`max_value_bytes`](Self::max_value_bytes).
    #[must_use]
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }
}

/// An in-process MVCC key-value store with etcd v3's semantics: the
/// embedded default behind `Api`, and the reference for the conformance suite.
///
/// Cheap to clone (an `Arc`); every clone is the same store. History is kept
/// until [`Store::compact`]. Leases expire on a background task that the first
/// `lease_grant` spawns on the current tokio runtime. Dropping the last clone
/// ends every watch stream.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store};
/// use orch_store::MemStore;
///
/// let store = MemStore::new();
/// let put = store.put(PutRequest::new("/a", "1")).await?;
/// let read = store.range(RangeRequest::new(KeyRange::key("/a"))).await?;
/// assert_eq!(read.kvs[0].mod_revision, put.header.revision);
/// # Ok::<(), orch_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    config: MemStoreConfig,
    lease_changed: Arc<Notify>,
    expiry_started: AtomicBool,
    next_watcher_id: AtomicU64,
}

pub(crate) struct State {
    pub(crate) mvcc: Mvcc,
    leases: Leases,
    pub(crate) watchers: Vec<Registered>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for watcher in self.state.get_mut().watchers.drain(..) {
            watcher.close();
        }
        self.lease_changed.notify_one();
    }
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("MemStore")
            .field("revision", &state.mvcc.revision())
            .field("compact_revision", &state.mvcc.compact_revision())
            .field("watchers", &state.watchers.len())
            .finish()
    }
}

impl MemStore {
    /// A new, empty store at revision 1 with the default settings.
    pub fn new() -> Self {
        Self::with_config(MemStoreConfig::default())
    }

    /// A new, empty store at revision 1.
    pub fn with_config(config: MemStoreConfig) -> Self {
        MemStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    mvcc: Mvcc::default(),
                    leases: Leases::default(),
                    watchers: Vec::new(),
                }),
                config,
                lease_changed: Arc::new(Notify::new()),
                expiry_started: AtomicBool::new(false),
                next_watcher_id: AtomicU64::new(1),
            }),
        }
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        self.inner.state.lock().mvcc.revision()
    }

    /// The compact revision: the oldest revision still readable (0 before the
    /// first compaction).
    pub fn compact_revision(&self) -> i64 {
        self.inner.state.lock().mvcc.compact_revision()
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.inner.state.lock().mvcc.live_keys()
    }

    /// True if no key is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The database size, in bytes: the key and value of every retained
    /// version of every key plus 256 bytes for each (see `mvcc.rs`), plus
    /// 64 bytes per lease — etcd's quota estimates for a key's metadata and
    /// a lease. Kept up to date by each write; compaction lowers it. What
    /// `RaftStore` holds against its backend quota.
    #[cfg_attr(not(feature = "raft"), allow(dead_code))]
    pub(crate) fn db_size_bytes(&self) -> u64 {
        let state = self.inner.state.lock();
        let leases = state.leases.len() as u64 * crate::lease::LEASE_OVERHEAD_BYTES;
        state.mvcc.size_bytes() + leases
    }

    /// Number of watchers currently in sync (in the writer's list).
    pub fn synced_watchers(&self) -> usize {
        self.inner.state.lock().watchers.len()
    }

    /// IDs of leases whose TTL has run out and that are still granted (a
    /// store with `expire_leases` off keeps them until they are revoked).
    pub fn expired_leases(&self) -> Vec<i64> {
        self.inner.state.lock().leases.expired(Instant::now())
    }

    /// A point-in-time backup of the whole store: every retained version of
    /// every key, the event log since the compact revision and the leases
    /// (the format is described in `image.rs`: a magic, a checksum, then
    /// postcard). What etcd's `Maintenance.Snapshot` streams.
    ///
    /// Errors: `Unavailable` if it cannot be encoded.
    pub fn backup(&self) -> Result<Vec<u8>> {
        self.image().encode()
    }

    /// The store's state now, not yet encoded (cheap: values are shared).
    pub(crate) fn image(&self) -> Image {
        let state = self.inner.state.lock();
        Image { mvcc: state.mvcc.to_image(), leases: state.leases.to_image() }
    }

    /// A new store holding what `backup` produced; each lease gets its
    /// full TTL from now.
    ///
    /// Errors: `InvalidRequest` if `backup` is not a valid image
    /// (truncated, corrupted, or something else).
    pub fn from_backup(backup: &[u8], config: MemStoreConfig) -> Result<MemStore> {
        let store = MemStore::with_config(config);
        store.restore(backup)?;
        Ok(store)
    }

    /// Replaces this store's state with a backup's. Synced watchers fall
    /// back to reading the log from the revision they had reached, so a
    /// newer image (a Raft snapshot installed on a lagging member) skips
    /// nothing for them.
    ///
    /// Errors: `InvalidRequest` if `backup` is not a valid image; nothing
    /// changes then.
    pub(crate) fn restore(&self, backup: &[u8]) -> Result<()> {
        let image = Image::decode(backup)?;
        let mut state = self.inner.state.lock();
        let next = state.mvcc.revision() + 1;
        state.mvcc = Mvcc::from_image(image.mvcc);
        state.leases = Leases::from_image(image.leases, Instant::now());
        for watcher in state.watchers.drain(..) {
            watcher.fall_behind(next);
        }
        drop(state);
        self.inner.lease_changed.notify_one();
        Ok(())
    }

    /// Restarts every lease's TTL from now, as etcd's lessor does when a
    /// member becomes leader (keep-alives went to the old leader).
    pub fn refresh_leases(&self) {
        self.inner.state.lock().leases.refresh_all(Instant::now());
    }

    fn ensure_expiry_task(&self) {
        if !self.inner.config.expire_leases {
            return;
        }
        if self.inner.expiry_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let notify = self.inner.lease_changed.clone();
        tokio::spawn(expire_leases(weak, notify));
    }
}

impl Inner {
    /// Runs a write under the lock: `f` validates before it mutates, so an
    /// error leaves nothing written. Commits the pending revision and hands the
    /// batch to synced watchers. Returns `f`'s value and the revision after.
    fn write<R>(&self, f: impl FnOnce(&mut State) -> Result<R>) -> Result<(R, i64)> {
        let mut state = self.state.lock();
        let out = f(&mut state)?;
        if let Some(batch) = state.mvcc.commit() {
            state.fan_out(&batch, self.config.watch_buffer_batches);
        }
        Ok((out, state.mvcc.revision()))
    }

    fn check_put(&self, state: &State, req: &PutRequest) -> Result<()> {
        if req.key.is_empty() {
            return Err(Error::InvalidRequest("key is not provided".into()));
        }
        if req.value.len() > self.config.max_value_bytes {
            return Err(Error::InvalidRequest(format!(
                "value of {} bytes for key {} exceeds the limit of {} bytes",
                req.value.len(),
                req.key.escape_ascii(),
                self.config.max_value_bytes
            )));
        }
        state.leases.check(req.lease)
    }

    /// Deletes the keys of leases whose deadline has passed, one revision each.
    fn expire_due(&self) {
        let now = Instant::now();
        let due = self.state.lock().leases.expired(now);
        for id in due {
            // Another path (a revoke) may have removed it meanwhile: fine.
            let _ = self.write(|state| state.revoke(id));
        }
    }
}

impl State {
    fn fan_out(&mut self, batch: &Arc<Batch>, capacity: usize) {
        self.watchers.retain(|w| w.offer(batch, capacity));
    }

    fn put(&mut self, req: &PutRequest) -> PutResponse {
        let prev = self.mvcc.put(req.key.clone(), req.value.clone(), req.lease);
        let old_lease = prev.as_ref().map_or(0, |p| p.lease);
        self.leases.reattach(&req.key, old_lease, req.lease);
        PutResponse {
            header: ResponseHeader::default(),
            prev_kv: if req.prev_kv { prev } else { None },
        }
    }

    fn delete_range(&mut self, req: &DeleteRangeRequest) -> DeleteRangeResponse {
        let deleted = self.mvcc.delete_range(&req.range);
        for kv in &deleted {
            self.leases.reattach(&kv.key, kv.lease, 0);
        }
        DeleteRangeResponse {
            header: ResponseHeader::default(),
            deleted: deleted.len() as i64,
            prev_kvs: if req.prev_kv { deleted } else { Vec::new() },
        }
    }

    fn revoke(&mut self, id: i64) -> Result<()> {
        let keys = self.leases.remove(id)?;
        for key in keys {
            self.mvcc.delete(&key);
        }
        Ok(())
    }

    fn compare(&self, c: &Compare) -> bool {
        let kvs: Vec<&KeyValue> = self.mvcc.live_in(&c.range).collect();
        if kvs.is_empty() {
            if matches!(c.target, CompareTarget::Value(_)) {
                // As etcd: a value compare on a missing key always fails.
                return false;
            }
            return compare_kv(&KeyValue::default(), c);
        }
        kvs.into_iter().all(|kv| compare_kv(kv, c))
    }
}

fn compare_kv(kv: &KeyValue, c: &Compare) -> bool {
    use std::cmp::Ordering as O;
    let ord = match &c.target {
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::CreateRevision(v) => kv.create_revision.cmp(v),
        CompareTarget::ModRevision(v) => kv.mod_revision.cmp(v),
        CompareTarget::Lease(v) => kv.lease.cmp(v),
        CompareTarget::Value(v) => kv.value[..].cmp(&v[..]),
    };
    match c.result {
        CompareResult::Equal => ord == O::Equal,
        CompareResult::Greater => ord == O::Greater,
        CompareResult::Less => ord == O::Less,
        CompareResult::NotEqual => ord != O::Equal,
    }
}

/// Rejects a txn's ops before any runs: bad puts, unreadable ranges, and a
/// key written twice (etcd's `ErrDuplicateKey`).
fn check_ops(inner: &Inner, state: &State, ops: &[TxnOp]) -> Result<()> {
    let mut put_keys: HashSet<&Bytes> = HashSet::new();
    for op in ops {
        match op {
            TxnOp::Put(p) => {
                inner.check_put(state, p)?;
                if !put_keys.insert(&p.key) {
                    return Err(Error::InvalidRequest(format!(
                        "duplicate key {} given in txn request",
                        p.key.escape_ascii()
                    )));
                }
            }
            TxnOp::Range(r) => {
                state.mvcc.readable(r.revision)?;
            }
            TxnOp::DeleteRange(_) => {}
        }
    }
    for op in ops {
        if let TxnOp::DeleteRange(d) = op {
            if let Some(k) = put_keys.iter().find(|k| d.range.contains(k)) {
                return Err(Error::InvalidRequest(format!(
                    "duplicate key {} given in txn request: put and delete",
                    k.escape_ascii()
                )));
            }
        }
    }
    Ok(())
}

fn set_header(resp: &mut TxnOpResponse, revision: i64) {
    let header = match resp {
        TxnOpResponse::Range(r) => &mut r.header,
        TxnOpResponse::Put(r) => &mut r.header,
        TxnOpResponse::DeleteRange(r) => &mut r.header,
    };
    header.revision = revision;
}

#[async_trait]
impl Store for MemStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.inner.state.lock().mvcc.range(&req)
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        let inner = &*self.inner;
        let (mut resp, revision) = inner.write(|state| {
            inner.check_put(state, &req)?;
            Ok(state.put(&req))
        })?;
        resp.header.revision = revision;
        Ok(resp)
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        let (mut resp, revision) = self.inner.write(|state| Ok(state.delete_range(&req)))?;
        resp.header.revision = revision;
        Ok(resp)
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        let inner = &*self.inner;
        let ((succeeded, mut responses), revision) = inner.write(|state| {
            let succeeded = req.compare.iter().all(|c| state.compare(c));
            let ops = if succeeded { &req.success } else { &req.failure };
            check_ops(inner, state, ops)?;
            let mut responses = Vec::with_capacity(ops.len());
            for op in ops {
                responses.push(match op {
                    TxnOp::Range(r) => TxnOpResponse::Range(state.mvcc.range(r)?),
                    TxnOp::Put(p) => TxnOpResponse::Put(state.put(p)),
                    TxnOp::DeleteRange(d) => TxnOpResponse::DeleteRange(state.delete_range(d)),
                });
            }
            Ok((succeeded, responses))
        })?;
        for r in &mut responses {
            set_header(r, revision);
        }
        Ok(TxnResponse { header: ResponseHeader { revision }, succeeded, responses })
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let start = if req.start_revision > 0 { req.start_revision } else { self.revision() + 1 };
        let id = self.inner.next_watcher_id.fetch_add(1, Ordering::Relaxed);
        let stream = watch::WatchStream::new(
            id,
            req,
            start,
            Arc::downgrade(&self.inner),
            self.inner.config.progress_notify_interval,
        );
        Ok(Box::pin(stream))
    }

    async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant> {
        if ttl_seconds < 1 {
            return Err(Error::InvalidRequest(format!("lease TTL {ttl_seconds} s is below 1 s")));
        }
        let ttl_seconds = ttl_seconds.max(self.inner.config.min_lease_ttl_seconds);
        self.ensure_expiry_task();
        let id = self.inner.state.lock().leases.grant(ttl_seconds, id, Instant::now())?;
        self.inner.lease_changed.notify_one();
        Ok(LeaseGrant { id, ttl_seconds })
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        self.inner.state.lock().leases.keep_alive(id, Instant::now())
    }

    async fn lease_revoke(&self, id: i64) -> Result<()> {
        self.inner.write(|state| state.revoke(id))?;
        self.inner.lease_changed.notify_one();
        Ok(())
    }

    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        let (left, granted, lease_keys) =
            self.inner.state.lock().leases.time_to_live(id, Instant::now())?;
        Ok(LeaseTimeToLive {
            id,
            ttl_seconds: left,
            granted_ttl_seconds: granted,
            keys: if keys { lease_keys } else { Vec::new() },
        })
    }

    async fn leases(&self) -> Result<Vec<i64>> {
        Ok(self.inner.state.lock().leases.ids())
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.inner.state.lock().mvcc.compact(revision)
    }
}

/// The lease expiry loop: sleeps until the earliest deadline (or a change in
/// the lease table), deletes what is due, and ends when the store is dropped.
async fn expire_leases(store: Weak<Inner>, changed: Arc<Notify>) {
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = {
            let Some(inner) = store.upgrade() else {
                return;
            };
            inner.expire_due();
            let next = inner.state.lock().leases.next_deadline();
            next
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = &mut notified => {}
                }
            }
            None => notified.await,
        }
    }
}
