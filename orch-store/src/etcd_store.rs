//! `EtcdStore`: the [`Store`] trait over a real etcd's v3 API (feature
//! `etcd`), through the `etcd-client` crate — for an existing etcd cluster,
//! or for orch's own Raft store members, which speak the same API.
//!
//! etcd reports some conditions only as message text; they are mapped to
//! [`Error`] variants (`Compacted`, `FutureRevision`, `LeaseNotFound`,
//! `LeaseExists`, `InvalidRequest` for duplicate keys). A range below the
//! compaction does not tell the compact revision; `Compacted` then carries 0.

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp, DeleteOptions, EventType as EtcdEventType,
    GetOptions, LeaseGrantOptions, LeaseTimeToLiveOptions, PutOptions, Txn, TxnOp as EtcdTxnOp,
    TxnOpResponse as EtcdTxnOpResponse, WatchFilterType, WatchOptions,
};
use futures::StreamExt;
use orch_core::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventType, KeyRange, KeyValue, LeaseGrant, LeaseTimeToLive, PutRequest, PutResponse,
    RangeRequest, RangeResponse, ResponseHeader, Store, TxnOp, TxnOpResponse, TxnRequest,
    TxnResponse, WatchFilter, WatchRequest, WatchResponse, WatchStream,
};
use orch_core::{Error, Result};

/// A [`Store`] backed by etcd. Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").finish_non_exhaustive()
    }
}

/// Maps an etcd client error to the store's error.
fn map_err(e: etcd_client::Error) -> Error {
    let text = e.to_string();
    if text.contains("required revision has been compacted") {
        Error::Compacted { requested: 0, compact_revision: 0 }
    } else if text.contains("required revision is a future revision") {
        Error::FutureRevision { requested: 0, current: 0 }
    } else if text.contains("lease not found") {
        Error::LeaseNotFound(0)
    } else if text.contains("lease already exists") {
        Error::LeaseExists(0)
    } else if text.contains("database space exceeded") {
        Error::NoSpace(text)
    } else if text.contains("duplicate key")
        || text.contains("too many operations")
        || text.contains("key is not provided")
    {
        Error::InvalidRequest(text)
    } else {
        Error::Unavailable(format!("etcd: {text}"))
    }
}

fn kv(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: Bytes::copy_from_slice(kv.key()),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

fn header(h: Option<&etcd_client::ResponseHeader>) -> ResponseHeader {
    ResponseHeader { revision: h.map_or(0, |h| h.revision()) }
}

fn get_options(req: &RangeRequest) -> GetOptions {
    let mut o = GetOptions::new();
    if !req.range.range_end.is_empty() {
        o = o.with_range(req.range.range_end.to_vec());
    }
    if req.revision > 0 {
        o = o.with_revision(req.revision);
    }
    if req.limit > 0 {
        o = o.with_limit(req.limit);
    }
    if req.keys_only {
        o = o.with_keys_only();
    }
    if req.count_only {
        o = o.with_count_only();
    }
    if req.serializable {
        o = o.with_serializable();
    }
    o
}

fn range_response(r: &etcd_client::GetResponse) -> RangeResponse {
    RangeResponse {
        header: header(r.header()),
        kvs: r.kvs().iter().map(kv).collect(),
        more: r.more(),
        count: r.count(),
    }
}

fn put_options(req: &PutRequest) -> PutOptions {
    let mut o = PutOptions::new();
    if req.lease != 0 {
        o = o.with_lease(req.lease);
    }
    if req.prev_kv {
        o = o.with_prev_key();
    }
    o
}

fn delete_options(req: &DeleteRangeRequest) -> DeleteOptions {
    let mut o = DeleteOptions::new();
    if !req.range.range_end.is_empty() {
        o = o.with_range(req.range.range_end.to_vec());
    }
    if req.prev_kv {
        o = o.with_prev_key();
    }
    o
}

fn delete_response(r: &etcd_client::DeleteResponse) -> DeleteRangeResponse {
    DeleteRangeResponse {
        header: header(r.header()),
        deleted: r.deleted(),
        prev_kvs: r.prev_kvs().iter().map(kv).collect(),
    }
}

fn compare(c: &Compare) -> EtcdCompare {
    let op = match c.result {
        CompareResult::Equal => CompareOp::Equal,
        CompareResult::Greater => CompareOp::Greater,
        CompareResult::Less => CompareOp::Less,
        CompareResult::NotEqual => CompareOp::NotEqual,
    };
    let key = c.range.key.to_vec();
    let cmp = match &c.target {
        CompareTarget::Version(v) => EtcdCompare::version(key, op, *v),
        CompareTarget::CreateRevision(v) => EtcdCompare::create_revision(key, op, *v),
        CompareTarget::ModRevision(v) => EtcdCompare::mod_revision(key, op, *v),
        CompareTarget::Value(v) => EtcdCompare::value(key, op, v.to_vec()),
        CompareTarget::Lease(v) => EtcdCompare::lease(key, op, *v),
    };
    if c.range.range_end.is_empty() {
        cmp
    } else {
        cmp.with_range(c.range.range_end.to_vec())
    }
}

fn txn_op(op: &TxnOp) -> EtcdTxnOp {
    match op {
        TxnOp::Range(r) => EtcdTxnOp::get(r.range.key.to_vec(), Some(get_options(r))),
        TxnOp::Put(p) => EtcdTxnOp::put(p.key.to_vec(), p.value.to_vec(), Some(put_options(p))),
        TxnOp::DeleteRange(d) => EtcdTxnOp::delete(d.range.key.to_vec(), Some(delete_options(d))),
    }
}

impl EtcdStore {
    /// Connects to etcd at `endpoints` (e.g. `["http://127.0.0.1:2379"]`).
    ///
    /// Errors: [`Error::Unavailable`] if no endpoint answers.
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        let client = Client::connect(endpoints, None).await.map_err(map_err)?;
        Ok(EtcdStore { client })
    }

    /// The underlying etcd client, for calls the Store trait does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let mut c = self.client.clone();
        let r = c.get(req.range.key.to_vec(), Some(get_options(&req))).await.map_err(map_err)?;
        Ok(range_response(&r))
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        let mut c = self.client.clone();
        let r = c
            .put(req.key.to_vec(), req.value.to_vec(), Some(put_options(&req)))
            .await
            .map_err(|e| match map_err(e) {
                Error::LeaseNotFound(_) => Error::LeaseNotFound(req.lease),
                other => other,
            })?;
        Ok(PutResponse { header: header(r.header()), prev_kv: r.prev_key().map(kv) })
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        let mut c = self.client.clone();
        let r =
            c.delete(req.range.key.to_vec(), Some(delete_options(&req))).await.map_err(map_err)?;
        Ok(delete_response(&r))
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        let mut c = self.client.clone();
        let txn = Txn::new()
            .when(req.compare.iter().map(compare).collect::<Vec<_>>())
            .and_then(req.success.iter().map(txn_op).collect::<Vec<_>>())
            .or_else(req.failure.iter().map(txn_op).collect::<Vec<_>>());
        let r = c.txn(txn).await.map_err(map_err)?;
        let responses = r
            .op_responses()
            .into_iter()
            .filter_map(|op| match op {
                EtcdTxnOpResponse::Get(g) => Some(TxnOpResponse::Range(range_response(&g))),
                EtcdTxnOpResponse::Put(p) => Some(TxnOpResponse::Put(PutResponse {
                    header: header(p.header()),
                    prev_kv: p.prev_key().map(kv),
                })),
                EtcdTxnOpResponse::Delete(d) => {
                    Some(TxnOpResponse::DeleteRange(delete_response(&d)))
                }
                EtcdTxnOpResponse::Txn(_) => None,
            })
            .collect();
        Ok(TxnResponse { header: header(r.header()), succeeded: r.succeeded(), responses })
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let mut c = self.client.clone();
        let mut o = WatchOptions::new();
        if !req.range.range_end.is_empty() {
            o = o.with_range(req.range.range_end.to_vec());
        }
        if req.start_revision > 0 {
            o = o.with_start_revision(req.start_revision);
        }
        if req.prev_kv {
            o = o.with_prev_key();
        }
        if req.progress_notify {
            o = o.with_progress_notify();
        }
        let filters: Vec<WatchFilterType> = req
            .filters
            .iter()
            .map(|f| match f {
                WatchFilter::NoPut => WatchFilterType::NoPut,
                WatchFilter::NoDelete => WatchFilterType::NoDelete,
            })
            .collect();
        if !filters.is_empty() {
            o = o.with_filters(filters);
        }
        let range: KeyRange = req.range.clone();
        let requested = req.start_revision;
        let mut stream = c.watch(range.key.to_vec(), Some(o)).await.map_err(map_err)?;
        // etcd-client returns before the server has registered the watch;
        // wait for its `created` answer, so that every write made after this
        // call returns is seen (a start revision of 0 means "from now").
        let created = stream
            .message()
            .await
            .map_err(map_err)?
            .ok_or_else(|| Error::Unavailable("etcd closed the watch stream".into()))?;
        let stream = futures::stream::iter([Ok(created)]).chain(stream);
        // Ends after the first error (a compaction cancels the watch).
        let mapped = stream
            .scan(false, move |ended, item| {
                if *ended {
                    return futures::future::ready(None);
                }
                let out = match item {
                    Err(e) => {
                        *ended = true;
                        Some(Err(map_err(e)))
                    }
                    Ok(r) if r.compact_revision() > 0 => {
                        *ended = true;
                        Some(Err(Error::Compacted {
                            requested,
                            compact_revision: r.compact_revision(),
                        }))
                    }
                    Ok(r) if r.canceled() => {
                        *ended = true;
                        Some(Err(Error::Unavailable(format!(
                            "etcd canceled the watch: {}",
                            r.cancel_reason()
                        ))))
                    }
                    Ok(r) if r.created() && r.events().is_empty() => Some(Ok(None)),
                    Ok(r) => {
                        let events: Vec<Event> = r
                            .events()
                            .iter()
                            .filter_map(|e| {
                                let kv_ = e.kv().map(kv)?;
                                Some(Event {
                                    kind: match e.event_type() {
                                        EtcdEventType::Put => EventType::Put,
                                        EtcdEventType::Delete => EventType::Delete,
                                    },
                                    kv: kv_,
                                    prev_kv: e.prev_kv().map(kv),
                                })
                            })
                            .collect();
                        let progress = events.is_empty();
                        Some(Ok(Some(WatchResponse {
                            header: header(r.header()),
                            events,
                            progress_notify: progress,
                        })))
                    }
                };
                futures::future::ready(out)
            })
            .filter_map(|item: Result<Option<WatchResponse>>| {
                futures::future::ready(item.transpose())
            });
        Ok(Box::pin(mapped))
    }

    async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant> {
        if ttl_seconds < 1 {
            return Err(Error::InvalidRequest(format!("lease TTL {ttl_seconds} s is below 1 s")));
        }
        let mut c = self.client.clone();
        let o = (id != 0).then(|| LeaseGrantOptions::new().with_id(id));
        let r = c.lease_grant(ttl_seconds, o).await.map_err(|e| match map_err(e) {
            Error::LeaseExists(_) => Error::LeaseExists(id),
            other => other,
        })?;
        Ok(LeaseGrant { id: r.id(), ttl_seconds: r.ttl() })
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        let mut c = self.client.clone();
        let not_found = |e: etcd_client::Error| match map_err(e) {
            Error::LeaseNotFound(_) => Error::LeaseNotFound(id),
            other => other,
        };
        let (mut keeper, mut responses) = c.lease_keep_alive(id).await.map_err(not_found)?;
        keeper.keep_alive().await.map_err(not_found)?;
        match responses.message().await.map_err(not_found)? {
            Some(r) if r.ttl() > 0 => Ok(r.ttl()),
            _ => Err(Error::LeaseNotFound(id)),
        }
    }

    async fn lease_revoke(&self, id: i64) -> Result<()> {
        let mut c = self.client.clone();
        c.lease_revoke(id).await.map_err(|e| match map_err(e) {
            Error::LeaseNotFound(_) => Error::LeaseNotFound(id),
            other => other,
        })?;
        Ok(())
    }

    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        let mut c = self.client.clone();
        let o = keys.then(|| LeaseTimeToLiveOptions::new().with_keys());
        let r = c.lease_time_to_live(id, o).await.map_err(map_err)?;
        // etcd answers an unknown lease with TTL -1.
        if r.ttl() < 0 {
            return Err(Error::LeaseNotFound(id));
        }
        Ok(LeaseTimeToLive {
            id,
            ttl_seconds: r.ttl(),
            granted_ttl_seconds: r.granted_ttl(),
            keys: r.keys().iter().map(|k| Bytes::copy_from_slice(k)).collect(),
        })
    }

    async fn leases(&self) -> Result<Vec<i64>> {
        let mut c = self.client.clone();
        let r = c.leases().await.map_err(map_err)?;
        Ok(r.leases().iter().map(|l| l.id()).collect())
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let mut c = self.client.clone();
        c.compact(revision, None).await.map_err(|e| match map_err(e) {
            Error::Compacted { .. } => {
                Error::Compacted { requested: revision, compact_revision: 0 }
            }
            Error::FutureRevision { .. } => {
                Error::FutureRevision { requested: revision, current: 0 }
            }
            other => other,
        })?;
        Ok(())
    }
}
