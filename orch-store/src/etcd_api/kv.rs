//! etcd's `KV` service: Range, Put, DeleteRange, Txn, Compact.

use orch_core::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeResponse, KeyRange, KeyValue, PutResponse,
    RangeRequest, RangeResponse, TxnOp, TxnOpResponse, TxnRequest,
};
use tonic::{Request, Response, Status};

use super::convert::{self, status};
use super::proto::{self, kv_server::Kv, range_request::SortOrder, range_request::SortTarget};
use super::Api;

impl Api {
    fn range_response(&self, r: RangeResponse) -> proto::RangeResponse {
        proto::RangeResponse {
            header: self.header(r.header.revision),
            kvs: r.kvs.into_iter().map(convert::key_value).collect(),
            more: r.more,
            count: r.count,
        }
    }

    fn put_response(&self, r: PutResponse) -> proto::PutResponse {
        proto::PutResponse {
            header: self.header(r.header.revision),
            prev_kv: r.prev_kv.map(convert::key_value),
        }
    }

    fn delete_response(&self, r: DeleteRangeResponse) -> proto::DeleteRangeResponse {
        proto::DeleteRangeResponse {
            header: self.header(r.header.revision),
            deleted: r.deleted,
            prev_kvs: r.prev_kvs.into_iter().map(convert::key_value).collect(),
        }
    }

    /// A Range with etcd's sort and min/max revision filters applied on top
    /// of the store's key-ordered read. `count` stays the number of keys in
    /// the range before the filters, as etcd reports it.
    async fn range_sorted(&self, r: &proto::RangeRequest) -> Result<proto::RangeResponse, Status> {
        let order = SortOrder::try_from(r.sort_order).unwrap_or(SortOrder::None);
        let target = SortTarget::try_from(r.sort_target).unwrap_or(SortTarget::Key);
        // etcd: a sort target other than the key with no order sorts ascending.
        let order = match (order, target) {
            (SortOrder::None, SortTarget::Key) => SortOrder::None,
            (SortOrder::None, _) => SortOrder::Ascend,
            (o, _) => o,
        };
        let filtered = r.min_mod_revision > 0
            || r.max_mod_revision > 0
            || r.min_create_revision > 0
            || r.max_create_revision > 0;
        let key_ordered =
            matches!(order, SortOrder::None | SortOrder::Ascend) && target == SortTarget::Key;
        let req = convert::range_request(r);
        if key_ordered && !filtered {
            let resp = self.store.range(req).await.map_err(status)?;
            return Ok(self.range_response(resp));
        }
        let limit = usize::try_from(r.limit).unwrap_or(0);
        let mut resp = self.store.range(RangeRequest { limit: 0, ..req }).await.map_err(status)?;
        resp.kvs.retain(|kv| {
            (r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
                && (r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
                && (r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
                && (r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
        });
        let by = |kv: &KeyValue| -> (i64, bytes::Bytes) {
            match target {
                SortTarget::Key => (0, kv.key.clone()),
                SortTarget::Version => (kv.version, bytes::Bytes::new()),
                SortTarget::Create => (kv.create_revision, bytes::Bytes::new()),
                SortTarget::Mod => (kv.mod_revision, bytes::Bytes::new()),
                SortTarget::Value => (0, kv.value.clone()),
            }
        };
        resp.kvs.sort_by_key(|kv| by(kv));
        if order == SortOrder::Descend {
            resp.kvs.reverse();
        }
        if limit > 0 && resp.kvs.len() > limit {
            resp.kvs.truncate(limit);
            resp.more = true;
        } else {
            resp.more = false;
        }
        Ok(self.range_response(resp))
    }

    /// A Put; `ignore_value`/`ignore_lease` keep the key's current value or
    /// lease, read and written in one transaction (retried if the key
    /// changes in between). Errors: `InvalidArgument` "key not found" if
    /// either is set and the key does not exist, as etcd.
    async fn put_keeping(&self, p: proto::PutRequest) -> Result<proto::PutResponse, Status> {
        let (ignore_value, ignore_lease) = (p.ignore_value, p.ignore_lease);
        let put = convert::put_request(p);
        if !ignore_value && !ignore_lease {
            return Ok(self.put_response(self.store.put(put).await.map_err(status)?));
        }
        loop {
            let current = self
                .store
                .range(RangeRequest::new(KeyRange::key(put.key.clone())))
                .await
                .map_err(status)?;
            let Some(kv) = current.kvs.into_iter().next() else {
                return Err(Status::invalid_argument("etcdserver: key not found"));
            };
            let mut next = put.clone();
            if ignore_value {
                next.value = kv.value.clone();
            }
            if ignore_lease {
                next.lease = kv.lease;
            }
            let txn = TxnRequest {
                compare: vec![Compare::new(
                    kv.key.clone(),
                    CompareResult::Equal,
                    CompareTarget::ModRevision(kv.mod_revision),
                )],
                success: vec![TxnOp::Put(next)],
                failure: vec![],
            };
            let resp = self.store.txn(txn).await.map_err(status)?;
            if let (true, Some(TxnOpResponse::Put(p))) =
                (resp.succeeded, resp.responses.into_iter().next())
            {
                return Ok(self.put_response(p));
            }
        }
    }
}

fn txn_op(op: proto::RequestOp) -> Result<TxnOp, Status> {
    use proto::request_op::Request as R;
    match op.request {
        Some(R::RequestRange(r)) => Ok(TxnOp::Range(convert::range_request(&r))),
        Some(R::RequestPut(p)) if p.ignore_value || p.ignore_lease => {
            Err(Status::invalid_argument(
                "etcdserver: ignore_value/ignore_lease in a txn is not served",
            ))
        }
        Some(R::RequestPut(p)) => Ok(TxnOp::Put(convert::put_request(p))),
        Some(R::RequestDeleteRange(d)) => Ok(TxnOp::DeleteRange(convert::delete_request(d))),
        Some(R::RequestTxn(_)) => {
            Err(Status::invalid_argument("etcdserver: nested txn operations are not served"))
        }
        None => Err(Status::invalid_argument("etcdserver: empty txn operation")),
    }
}

#[tonic::async_trait]
impl Kv for Api {
    async fn range(
        &self,
        req: Request<proto::RangeRequest>,
    ) -> Result<Response<proto::RangeResponse>, Status> {
        Ok(Response::new(self.range_sorted(req.get_ref()).await?))
    }

    async fn put(
        &self,
        req: Request<proto::PutRequest>,
    ) -> Result<Response<proto::PutResponse>, Status> {
        Ok(Response::new(self.put_keeping(req.into_inner()).await?))
    }

    async fn delete_range(
        &self,
        req: Request<proto::DeleteRangeRequest>,
    ) -> Result<Response<proto::DeleteRangeResponse>, Status> {
        let d = convert::delete_request(req.into_inner());
        let resp = self.store.delete_range(d).await.map_err(status)?;
        Ok(Response::new(self.delete_response(resp)))
    }

    async fn txn(
        &self,
        req: Request<proto::TxnRequest>,
    ) -> Result<Response<proto::TxnResponse>, Status> {
        let t = req.into_inner();
        let txn = TxnRequest {
            compare: t.compare.into_iter().map(convert::compare).collect::<Result<_, _>>()?,
            success: t.success.into_iter().map(txn_op).collect::<Result<_, _>>()?,
            failure: t.failure.into_iter().map(txn_op).collect::<Result<_, _>>()?,
        };
        let resp = self.store.txn(txn).await.map_err(status)?;
        use proto::response_op::Response as R;
        let responses = resp
            .responses
            .into_iter()
            .map(|r| proto::ResponseOp {
                response: Some(match r {
                    TxnOpResponse::Range(r) => R::ResponseRange(self.range_response(r)),
                    TxnOpResponse::Put(p) => R::ResponsePut(self.put_response(p)),
                    TxnOpResponse::DeleteRange(d) => {
                        R::ResponseDeleteRange(self.delete_response(d))
                    }
                }),
            })
            .collect();
        Ok(Response::new(proto::TxnResponse {
            header: self.header(resp.header.revision),
            succeeded: resp.succeeded,
            responses,
        }))
    }

    async fn compact(
        &self,
        req: Request<proto::CompactionRequest>,
    ) -> Result<Response<proto::CompactionResponse>, Status> {
        self.store.compact(req.get_ref().revision).await.map_err(status)?;
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::CompactionResponse { header: self.header(revision) }))
    }
}
