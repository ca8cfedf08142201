//! Conversions between etcd's wire messages and orch's store types, and
//! from orch's errors to the gRPC statuses (codes and texts) etcd returns.

use bytes::Bytes;
use orch_core::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, Event, EventType, KeyRange,
    KeyValue, PutRequest, RangeRequest,
};
use orch_core::Error;
use tonic::Status;

use super::proto;

/// etcd's gRPC status for an orch store error (etcd's `rpctypes` texts,
/// which clients match on).
pub(super) fn status(e: Error) -> Status {
    match e {
        Error::Compacted { .. } => {
            Status::out_of_range("etcdserver: mvcc: required revision has been compacted")
        }
        Error::FutureRevision { .. } => {
            Status::out_of_range("etcdserver: mvcc: required revision is a future revision")
        }
        Error::LeaseNotFound(_) => Status::not_found("etcdserver: requested lease not found"),
        Error::LeaseExists(_) => Status::failed_precondition("etcdserver: lease already exists"),
        Error::InvalidRequest(m) => Status::invalid_argument(format!("etcdserver: {m}")),
        Error::Unavailable(m) => Status::unavailable(m),
        Error::NoSpace(_) => {
            Status::resource_exhausted("etcdserver: mvcc: database space exceeded")
        }
        other => Status::internal(other.to_string()),
    }
}

pub(super) fn key_value(kv: KeyValue) -> proto::KeyValue {
    proto::KeyValue {
        key: kv.key.into(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value.into(),
        lease: kv.lease,
    }
}

pub(super) fn event(e: Event) -> proto::Event {
    proto::Event {
        r#type: match e.kind {
            EventType::Put => proto::event::EventType::Put,
            EventType::Delete => proto::event::EventType::Delete,
        } as i32,
        kv: Some(key_value(e.kv)),
        prev_kv: e.prev_kv.map(key_value),
    }
}

pub(super) fn key_range(key: Vec<u8>, range_end: Vec<u8>) -> KeyRange {
    KeyRange { key: Bytes::from(key), range_end: Bytes::from(range_end) }
}

pub(super) fn range_request(r: &proto::RangeRequest) -> RangeRequest {
    RangeRequest {
        range: key_range(r.key.clone(), r.range_end.clone()),
        revision: r.revision,
        limit: r.limit,
        keys_only: r.keys_only,
        count_only: r.count_only,
        serializable: r.serializable,
    }
}

/// A put. `ignore_value`/`ignore_lease` are etcd's "keep the current
/// value/lease" flags; the caller resolves them (they need a read).
pub(super) fn put_request(r: proto::PutRequest) -> PutRequest {
    PutRequest {
        key: Bytes::from(r.key),
        value: Bytes::from(r.value),
        lease: r.lease,
        prev_kv: r.prev_kv,
    }
}

pub(super) fn delete_request(r: proto::DeleteRangeRequest) -> DeleteRangeRequest {
    DeleteRangeRequest { range: key_range(r.key, r.range_end), prev_kv: r.prev_kv }
}

/// Errors: `InvalidArgument` for a compare with no target value.
pub(super) fn compare(c: proto::Compare) -> Result<Compare, Status> {
    use proto::compare::{CompareResult as R, TargetUnion as T};
    let result = match R::try_from(c.result) {
        Ok(R::Equal) => CompareResult::Equal,
        Ok(R::Greater) => CompareResult::Greater,
        Ok(R::Less) => CompareResult::Less,
        Ok(R::NotEqual) => CompareResult::NotEqual,
        Err(_) => return Err(Status::invalid_argument("etcdserver: unknown compare result")),
    };
    let target = match c.target_union {
        Some(T::Version(v)) => CompareTarget::Version(v),
        Some(T::CreateRevision(v)) => CompareTarget::CreateRevision(v),
        Some(T::ModRevision(v)) => CompareTarget::ModRevision(v),
        Some(T::Value(v)) => CompareTarget::Value(Bytes::from(v)),
        Some(T::Lease(v)) => CompareTarget::Lease(v),
        // proto3 drops zero values of a oneof's scalar only when unset; a
        // target with no value compares against the zero value.
        None => match proto::compare::CompareTarget::try_from(c.target) {
            Ok(proto::compare::CompareTarget::Version) => CompareTarget::Version(0),
            Ok(proto::compare::CompareTarget::Create) => CompareTarget::CreateRevision(0),
            Ok(proto::compare::CompareTarget::Mod) => CompareTarget::ModRevision(0),
            Ok(proto::compare::CompareTarget::Value) => CompareTarget::Value(Bytes::new()),
            Ok(proto::compare::CompareTarget::Lease) => CompareTarget::Lease(0),
            Err(_) => return Err(Status::invalid_argument("etcdserver: unknown compare target")),
        },
    };
    Ok(Compare { range: key_range(c.key, c.range_end), result, target })
}
