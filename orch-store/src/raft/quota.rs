//! The backend quota, as etcd's `--quota-backend-bytes` (default 2 GiB),
//! and its NOSPACE alarm.
//!
//! The database size is the state machine's (see `MemStore::db_size_bytes`:
//! the key and value of every retained revision plus 256 bytes each, 64
//! bytes per lease), kept up to date by every write and lowered by
//! compaction — unlike etcd's bolt file, which only defragmentation
//! shrinks, so here compacting old revisions is what makes room.
//!
//! A write that adds data (a put, a txn with puts, a lease grant) is
//! proposed wrapped in [`Op::WithinQuota`] with the proposing member's
//! quota, and checked when it is applied, on every member alike (the size
//! and the alarms are replicated state, the quota is in the entry):
//!
//! - while a NOSPACE alarm is raised it is refused (etcd's capped applier,
//!   `applierV3Capped`): only reads, deletes, txns without puts,
//!   compaction, lease revocation and alarm changes go through;
//! - otherwise, if the size plus the write's cost would reach the quota
//!   (etcd's `size + cost < quota` test, with its costs: 256 bytes plus key
//!   and value per put, the larger branch of a txn, 64 bytes per lease),
//!   it is refused and the proposing member's NOSPACE alarm is raised in
//!   the same apply — where etcd's member raises it with a proposal of its
//!   own, so that here no write slips past the quota meanwhile.
//!
//! A refused write still takes a log entry (etcd's member refuses at its
//! API, before proposing, when its own size is over); what it costs is
//! one more entry in a batch.
//!
//! Refused writes fail with [`Error::NoSpace`] (over etcd's API,
//! `ResourceExhausted` "etcdserver: mvcc: database space exceeded"). The
//! alarm stays until disarmed (`etcdctl alarm disarm`, [`Alarms`]); a write
//! that still does not fit raises it again.

use orch_core::store::{TxnOp, TxnRequest};
use orch_core::{Error, Result};

use super::command::Op;
use super::state_machine::{Applied, StateMachine};
use super::store_error::StoreError;
use super::{wrong, RaftStore};
use crate::lease::LEASE_OVERHEAD_BYTES;
use crate::mvcc::version_bytes;
use crate::{AlarmMember, AlarmType, Alarms};

/// etcd's default backend quota, in bytes (2 GiB, `DefaultQuotaBytes`).
pub(super) const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 << 30;

/// The quota in bytes that `RaftOptions::quota_backend_bytes` sets: 0 is
/// etcd's default (2 GiB), a negative value none — as etcd reads its flag.
pub(super) fn effective_quota(option: i64) -> Option<u64> {
    match option {
        0 => Some(DEFAULT_QUOTA_BACKEND_BYTES),
        q if q < 0 => None,
        q => Some(q.unsigned_abs()),
    }
}

/// What `txn` adds in the worst case: the puts of its larger branch
/// (etcd's `costTxn`).
fn txn_cost(txn: &TxnRequest) -> u64 {
    let branch = |ops: &[TxnOp]| -> u64 {
        ops.iter()
            .map(|op| match op {
                TxnOp::Put(p) => version_bytes(p.key.len(), p.value.len()),
                TxnOp::Range(_) | TxnOp::DeleteRange(_) => 0,
            })
            .sum()
    };
    branch(&txn.success).max(branch(&txn.failure))
}

/// What `op` may add to the database size, in bytes (etcd's quota
/// `Cost`); 0 for what a NOSPACE alarm lets through.
fn cost(op: &Op) -> u64 {
    match op {
        Op::Put(p) => version_bytes(p.key.len(), p.value.len()),
        Op::Txn(t) => txn_cost(t),
        Op::LeaseGrant { .. } => LEASE_OVERHEAD_BYTES,
        Op::WithinQuota { op, .. } => cost(op),
        Op::DeleteRange(_) | Op::LeaseRevoke { .. } | Op::Compact { .. } | Op::Alarm { .. } => 0,
    }
}

/// The write inside any [`Op::WithinQuota`] wrappers, with the smallest
/// quota among them (`None` if it has none).
pub(super) fn unwrap_quota(mut op: Op) -> (Option<u64>, Op) {
    let mut quota: Option<u64> = None;
    while let Op::WithinQuota { quota_bytes, op: inner } = op {
        quota = Some(quota.map_or(quota_bytes, |q| q.min(quota_bytes)));
        op = *inner;
    }
    (quota, op)
}

/// What a refused `op` produced: its kind of result, with `e`.
pub(super) fn refused(op: &Op, e: StoreError) -> Applied {
    match op {
        Op::Put(_) => Applied::Put(Err(e)),
        Op::Txn(_) => Applied::Txn(Err(e)),
        Op::LeaseGrant { .. } => Applied::LeaseGrant(Err(e)),
        Op::DeleteRange(_) => Applied::DeleteRange(Err(e)),
        Op::Alarm { .. } => Applied::Alarm(Err(e)),
        Op::LeaseRevoke { .. } | Op::Compact { .. } | Op::WithinQuota { .. } => {
            Applied::Done(Err(e))
        }
    }
}

impl StateMachine {
    /// Whether `op`, proposed by `member` with `quota` (bytes), may be
    /// applied now (see the module doc); raises `member`'s NOSPACE alarm
    /// when it does not fit.
    pub(super) fn admit(&self, member: u64, quota: Option<u64>, op: &Op) -> Result<(), StoreError> {
        let cost = cost(op);
        if cost == 0 {
            return Ok(());
        }
        if let Some(raised) = self.alarms.lock().no_space() {
            return Err(StoreError::NoSpace(format!(
                "the NOSPACE alarm of member {:x} is raised: only reads, deletes, compaction and \
                 lease revocation are taken until it is disarmed",
                raised.member_id
            )));
        }
        let Some(quota) = quota else { return Ok(()) };
        let size = self.store.db_size_bytes();
        if size.saturating_add(cost) < quota {
            return Ok(());
        }
        let alarm = AlarmMember { member_id: member, alarm: AlarmType::NoSpace };
        self.alarms.lock().activate(alarm);
        tracing::warn!(
            member = format_args!("{member:x}"),
            size_bytes = size,
            cost_bytes = cost,
            quota_bytes = quota,
            "a write exceeded the backend quota; raising the NOSPACE alarm"
        );
        Err(StoreError::NoSpace(format!(
            "the database of {size} bytes plus this write's {cost} would reach member \
             {member:x}'s backend quota of {quota} bytes; NOSPACE alarm raised: compact old \
             revisions, then disarm it"
        )))
    }

    /// Applies an alarm change; answers the alarm if it changed (always,
    /// for a raise: etcd answers the alarm raised, new or not).
    pub(super) fn apply_alarm(&self, activate: bool, alarm: AlarmMember) -> Applied {
        let mut alarms = self.alarms.lock();
        let changed = if activate {
            alarms.activate(alarm);
            true
        } else {
            alarms.deactivate(alarm)
        };
        if !activate && changed && alarm.alarm == AlarmType::NoSpace {
            tracing::warn!(
                member = format_args!("{:x}", alarm.member_id),
                "NOSPACE alarm disarmed"
            );
        }
        Applied::Alarm(Ok(changed.then_some(alarm)))
    }
}

impl RaftStore {
    /// `op` wrapped with this member's quota, if it has one and `op` adds
    /// data.
    pub(super) fn within_quota(&self, op: Op) -> Op {
        match self.member.quota {
            Some(quota_bytes) if cost(&op) > 0 => Op::WithinQuota { quota_bytes, op: Box::new(op) },
            _ => op,
        }
    }

    async fn change_alarm(&self, activate: bool, alarm: AlarmMember) -> Result<bool> {
        match self.propose(Op::Alarm { activate, alarm }).await? {
            Applied::Alarm(r) => Ok(r.map_err(Error::from)?.is_some()),
            _ => Err(wrong("alarm")),
        }
    }
}

/// The quota and alarms of this member's cluster: the size is this
/// member's copy's, the alarms are the cluster's (replicated).
#[async_trait::async_trait]
impl Alarms for RaftStore {
    /// This member's database size (see the module doc): what it will
    /// export as `etcd_mvcc_db_total_size_in_bytes`.
    fn db_size_bytes(&self) -> u64 {
        self.member.store.db_size_bytes()
    }

    fn quota_backend_bytes(&self) -> Option<u64> {
        self.member.quota
    }

    async fn alarm_list(&self) -> Result<Vec<AlarmMember>> {
        self.member.catch_up().await?;
        Ok(self.member.alarms.lock().list())
    }

    async fn alarm_activate(&self, alarm: AlarmMember) -> Result<()> {
        self.change_alarm(true, alarm).await.map(|_| ())
    }

    async fn alarm_disarm(&self, alarm: AlarmMember) -> Result<bool> {
        self.change_alarm(false, alarm).await
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftStateMachine;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftSnapshotBuilder};
    use orch_core::store::{DeleteRangeRequest, KeyRange, PutRequest};

    use super::*;
    use crate::raft::alarm::SharedAlarms;
    use crate::raft::command::Command;
    use crate::{MemStore, MemStoreConfig};

    fn state_machine(dir: &std::path::Path) -> StateMachine {
        let store =
            MemStore::with_config(MemStoreConfig { expire_leases: false, ..Default::default() });
        StateMachine::open(store, SharedAlarms::default(), Some(dir)).expect("open")
    }

    /// Applies `ops` from member 7 as log entry `index`.
    async fn apply(sm: &mut StateMachine, index: u64, ops: Vec<Op>) -> Vec<Applied> {
        let log_id = LogId::new(CommittedLeaderId::new(1, 1), index);
        let entry = Entry { log_id, payload: EntryPayload::Normal(Command { member: 7, ops }) };
        sm.apply([entry]).await.expect("apply").remove(0)
    }

    fn put(value_len: usize, quota_bytes: u64) -> Op {
        let op = Op::Put(PutRequest::new("/k", vec![b'v'; value_len]));
        Op::WithinQuota { quota_bytes, op: Box::new(op) }
    }

    /// A write that would reach the quota is refused and raises the
    /// proposer's alarm in the same apply; the alarm then refuses even a
    /// write that fits, lets a delete through, is kept in the snapshot, and
    /// is there when a durable member opens that snapshot again.
    #[tokio::test]
    async fn the_alarm_is_raised_in_the_apply_and_kept_in_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sm = state_machine(dir.path());
        let fits = apply(&mut sm, 1, vec![put(10, 1000)]).await;
        assert!(matches!(fits[..], [Applied::Put(Ok(_))]), "{fits:?}");
        assert_eq!(sm.store.db_size_bytes(), version_bytes(2, 10));
        // 268 bytes held; 256 + 2 + 500 more would reach 1000.
        let refused = apply(&mut sm, 2, vec![put(500, 1000), put(1, 1000)]).await;
        assert!(
            matches!(
                refused[..],
                [
                    Applied::Put(Err(StoreError::NoSpace(_))),
                    Applied::Put(Err(StoreError::NoSpace(_)))
                ]
            ),
            "the second fits but the alarm holds it off: {refused:?}"
        );
        assert_eq!(sm.store.db_size_bytes(), version_bytes(2, 10), "nothing was written");
        let raised = AlarmMember { member_id: 7, alarm: AlarmType::NoSpace };
        assert_eq!(sm.alarms.lock().list(), [raised]);
        let delete =
            Op::DeleteRange(DeleteRangeRequest { range: KeyRange::key("/k"), prev_kv: false });
        let deleted = apply(&mut sm, 3, vec![delete]).await;
        assert!(matches!(deleted[..], [Applied::DeleteRange(Ok(_))]), "{deleted:?}");
        sm.get_snapshot_builder().await.build_snapshot().await.expect("a snapshot");
        drop(sm);
        let reopened = state_machine(dir.path());
        assert_eq!(reopened.alarms.lock().list(), [raised], "the snapshot kept the alarm");
        let mut reopened = reopened;
        let capped = apply(&mut reopened, 4, vec![put(1, 1000)]).await;
        assert!(matches!(capped[..], [Applied::Put(Err(StoreError::NoSpace(_)))]), "{capped:?}");
        let disarmed = apply(&mut reopened, 5, vec![Op::Alarm { activate: false, alarm: raised }]);
        assert!(matches!(disarmed.await[..], [Applied::Alarm(Ok(Some(a)))] if a == raised));
        let written = apply(&mut reopened, 6, vec![put(1, 1000)]).await;
        assert!(matches!(written[..], [Applied::Put(Ok(_))]), "{written:?}");
    }
}
