//! Request and response shapes of the [`Store`](super::Store) trait, after
//! etcd v3's `rpc.proto` and `kv.proto`.

use bytes::Bytes;

/// A key's value at one revision, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: Bytes,
    /// The value; empty in `keys_only` ranges and in delete events.
    pub value: Bytes,
    /// The revision of the key's last creation (0 in delete events).
    pub create_revision: i64,
    /// The revision of the key's last modification (the deletion's revision in
    /// delete events).
    pub mod_revision: i64,
    /// Number of writes since the key's creation: 1 right after a create
    /// (0 in delete events).
    pub version: i64,
    /// The lease the key is attached to, 0 for none.
    pub lease: i64,
}

/// Header of every response: the store's revision when the response was made
/// (for a read at an older revision, still the current revision, as etcd does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResponseHeader {
    /// The store's revision.
    pub revision: i64,
}

/// A key range, as etcd's `key`/`range_end` pair.
///
/// * `range_end` empty: the single key `key`.
/// * `range_end` = `[0]`: every key `>= key`; with `key` = `[0]` too, every key.
/// * otherwise: the half-open interval `[key, range_end)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRange {
    /// First key of the range.
    pub key: Bytes,
    /// End of the range (exclusive), see the type's docs.
    pub range_end: Bytes,
}

impl KeyRange {
    /// The single key `key`.
    pub fn key(key: impl Into<Bytes>) -> Self {
        KeyRange { key: key.into(), range_end: Bytes::new() }
    }

    /// Every key that starts with `prefix` (etcd's `--prefix`). An empty
    /// prefix means every key.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let key: Bytes = prefix.into();
        if key.is_empty() {
            return Self::all();
        }
        KeyRange { range_end: prefix_end(&key), key }
    }

    /// Every key in `[start, end)`.
    pub fn between(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Self {
        KeyRange { key: start.into(), range_end: end.into() }
    }

    /// Every key `>= start`.
    pub fn from_key(start: impl Into<Bytes>) -> Self {
        KeyRange { key: start.into(), range_end: Bytes::from_static(b"\0") }
    }

    /// Every key in the store.
    pub fn all() -> Self {
        KeyRange { key: Bytes::from_static(b"\0"), range_end: Bytes::from_static(b"\0") }
    }

    /// True if `k` lies in this range.
    pub fn contains(&self, k: &[u8]) -> bool {
        if self.range_end.is_empty() {
            return k == &self.key[..];
        }
        let above_start = self.key[..] == b"\0"[..] || k >= &self.key[..];
        let below_end = self.range_end[..] == b"\0"[..] || k < &self.range_end[..];
        above_start && below_end
    }

    /// True if the range names a single key.
    pub fn is_single_key(&self) -> bool {
        self.range_end.is_empty()
    }
}

/// The end of the range of all keys that start with `prefix`: the prefix with
/// its last byte below 0xff incremented and what follows it dropped, or `[0]`
/// (every key) when every byte is 0xff. As etcd's `clientv3.GetPrefixRangeEnd`.
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.last_mut() {
        if *last < 0xff {
            *last += 1;
            return Bytes::from(end);
        }
        end.pop();
    }
    Bytes::from_static(b"\0")
}

/// etcd `RangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RangeRequest {
    /// The keys to read.
    pub range: KeyRange,
    /// Read as of this revision; 0 (or less) for the current revision.
    pub revision: i64,
    /// At most this many kvs; 0 for no limit. `more` tells whether some were left.
    pub limit: i64,
    /// Leave values out.
    pub keys_only: bool,
    /// Return only `count`, no kvs.
    pub count_only: bool,
    /// etcd's `serializable`: answer from the member's own copy without
    /// confirming with the leader first — faster, possibly stale. A store
    /// that is not replicated ignores it.
    pub serializable: bool,
}

impl RangeRequest {
    /// A read of `range` at the current revision.
    pub fn new(range: KeyRange) -> Self {
        RangeRequest { range, ..Default::default() }
    }

    /// Read at `revision` instead of the current one.
    #[must_use]
    pub fn at_revision(mut self, revision: i64) -> Self {
        self.revision = revision;
        self
    }

    /// Return at most `limit` kvs.
    #[must_use]
    pub fn with_limit(mut self, limit: i64) -> Self {
        self.limit = limit;
        self
    }
}

/// etcd `RangeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RangeResponse {
    /// The response header.
    pub header: ResponseHeader,
    /// The kvs, in key order (empty for `count_only`).
    pub kvs: Vec<KeyValue>,
    /// True if `limit` cut off more kvs.
    pub more: bool,
    /// Number of keys in the range (regardless of `limit`).
    pub count: i64,
}

/// etcd `PutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PutRequest {
    /// The key to write.
    pub key: Bytes,
    /// The value to write.
    pub value: Bytes,
    /// Attach the key to this lease (0 for none); the lease must exist.
    pub lease: i64,
    /// Return the previous kv.
    pub prev_kv: bool,
}

impl PutRequest {
    /// A put of `value` at `key`.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        PutRequest { key: key.into(), value: value.into(), ..Default::default() }
    }

    /// Attach the key to `lease`.
    #[must_use]
    pub fn with_lease(mut self, lease: i64) -> Self {
        self.lease = lease;
        self
    }

    /// Ask for the previous kv.
    #[must_use]
    pub fn with_prev_kv(mut self) -> Self {
        self.prev_kv = true;
        self
    }
}

/// etcd `PutResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PutResponse {
    /// The header; `revision` is the revision this put created.
    pub header: ResponseHeader,
    /// The previous kv, if asked for and the key existed.
    pub prev_kv: Option<KeyValue>,
}

/// etcd `DeleteRangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeleteRangeRequest {
    /// The keys to delete.
    pub range: KeyRange,
    /// Return the deleted kvs.
    pub prev_kv: bool,
}

/// etcd `DeleteRangeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeleteRangeResponse {
    /// The header; `revision` is the deletion's revision (unchanged if nothing
    /// was deleted).
    pub header: ResponseHeader,
    /// Number of keys deleted.
    pub deleted: i64,
    /// The deleted kvs, if asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// What a [`Compare`] looks at, with the operand (etcd `Compare.target` and
/// `target_union`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareTarget {
    /// The key's version (0 if it does not exist).
    Version(i64),
    /// The key's create revision (0 if it does not exist).
    CreateRevision(i64),
    /// The key's mod revision (0 if it does not exist).
    ModRevision(i64),
    /// The key's value, compared bytewise. Always false for a missing key.
    Value(Bytes),
    /// The key's lease ID (0 if none or if the key does not exist).
    Lease(i64),
}

/// How a [`Compare`] relates the key's field to the operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareResult {
    /// `field == operand`.
    Equal,
    /// `field > operand`.
    Greater,
    /// `field < operand`.
    Less,
    /// `field != operand`.
    NotEqual,
}

/// etcd `Compare`: a condition on every key of a range (usually one key).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Compare {
    /// The keys compared; the compare holds only if it holds for each.
    pub range: KeyRange,
    /// The relation.
    pub result: CompareResult,
    /// The field and operand.
    pub target: CompareTarget,
}

impl Compare {
    /// `key`'s `target` relates to the operand by `result`.
    pub fn new(key: impl Into<Bytes>, result: CompareResult, target: CompareTarget) -> Self {
        Compare { range: KeyRange::key(key), result, target }
    }

    /// `key` does not exist (create revision 0): the create-if-absent guard.
    pub fn absent(key: impl Into<Bytes>) -> Self {
        Self::new(key, CompareResult::Equal, CompareTarget::CreateRevision(0))
    }

    /// `key`'s mod revision equals `revision`: the optimistic-concurrency guard.
    pub fn mod_revision_is(key: impl Into<Bytes>, revision: i64) -> Self {
        Self::new(key, CompareResult::Equal, CompareTarget::ModRevision(revision))
    }
}

/// One operation inside a [`TxnRequest`] (etcd `RequestOp`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TxnOp {
    /// A read, at the txn's revision.
    Range(RangeRequest),
    /// A write.
    Put(PutRequest),
    /// A delete.
    DeleteRange(DeleteRangeRequest),
}

/// The response to one [`TxnOp`] (etcd `ResponseOp`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TxnOpResponse {
    /// Answer to [`TxnOp::Range`].
    Range(RangeResponse),
    /// Answer to [`TxnOp::Put`].
    Put(PutResponse),
    /// Answer to [`TxnOp::DeleteRange`].
    DeleteRange(DeleteRangeResponse),
}

/// etcd `TxnRequest`: if every compare holds, run `success`, else `failure`,
/// atomically. All writes of a txn share one new revision; a txn that writes
/// nothing does not create one. A key may be written at most once per txn.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxnRequest {
    /// The conditions, all of which must hold.
    pub compare: Vec<Compare>,
    /// Ops run when every compare holds.
    pub success: Vec<TxnOp>,
    /// Ops run otherwise.
    pub failure: Vec<TxnOp>,
}

/// etcd `TxnResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxnResponse {
    /// The header; `revision` is the txn's revision if it wrote, else the
    /// current one.
    pub header: ResponseHeader,
    /// True if the compares held and `success` ran.
    pub succeeded: bool,
    /// One response per op that ran, in order.
    pub responses: Vec<TxnOpResponse>,
}

/// Drop events of a kind from a watch (etcd `WatchCreateRequest.FilterType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchFilter {
    /// Drop put events.
    NoPut,
    /// Drop delete events.
    NoDelete,
}

/// etcd `WatchCreateRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchRequest {
    /// The keys watched.
    pub range: KeyRange,
    /// First revision to deliver (inclusive); 0 (or less) for "changes after now".
    pub start_revision: i64,
    /// Include each event's previous kv.
    pub prev_kv: bool,
    /// Send an empty response carrying the current revision when the watcher
    /// is idle and in sync, at the store's progress interval.
    pub progress_notify: bool,
    /// Kinds of events to drop.
    pub filters: Vec<WatchFilter>,
}

impl WatchRequest {
    /// Watch `range` from `start_revision` (0: from now).
    pub fn new(range: KeyRange, start_revision: i64) -> Self {
        WatchRequest { range, start_revision, ..Default::default() }
    }

    /// Ask for previous kvs.
    #[must_use]
    pub fn with_prev_kv(mut self) -> Self {
        self.prev_kv = true;
        self
    }

    /// Ask for progress notifications.
    #[must_use]
    pub fn with_progress_notify(mut self) -> Self {
        self.progress_notify = true;
        self
    }
}

/// Kind of a watch [`Event`] (etcd `mvccpb.Event.EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventType {
    /// The key was created or updated.
    Put,
    /// The key was deleted (explicitly, by range, or by lease expiry).
    Delete,
}

/// One change to one key (etcd `mvccpb.Event`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Put or delete.
    pub kind: EventType,
    /// The kv after the change; for a delete, only `key` and `mod_revision`
    /// (the deletion's revision) are set.
    pub kv: KeyValue,
    /// The kv before the change, if the watch asked for it and there was one.
    pub prev_kv: Option<KeyValue>,
}

/// One message of a watch stream (etcd `WatchResponse`).
///
/// Events are in revision order; the events of one revision are never split
/// across two responses. A response with no events and `progress_notify` set
/// is a progress notification: every change up to `header.revision` has been
/// delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchResponse {
    /// The header: the store's revision when this was sent.
    pub header: ResponseHeader,
    /// The events.
    pub events: Vec<Event>,
    /// True for a progress notification.
    pub progress_notify: bool,
}

/// etcd `LeaseGrantResponse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseGrant {
    /// The lease ID.
    pub id: i64,
    /// The granted TTL in seconds (the store may raise a requested TTL to its minimum).
    pub ttl_seconds: i64,
}

/// etcd `LeaseTimeToLiveResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseTimeToLive {
    /// The lease ID.
    pub id: i64,
    /// Seconds left before it expires.
    pub ttl_seconds: i64,
    /// The TTL it was granted with, in seconds.
    pub granted_ttl_seconds: i64,
    /// The keys attached, if asked for.
    pub keys: Vec<Bytes>,
}
