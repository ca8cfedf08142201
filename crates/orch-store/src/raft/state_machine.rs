//! The state machine: a [`MemStore`] (with its own lease expiry off) that
//! every member applies the log to, in order — so every member has the same
//! keys at the same revisions, and serves watches from its own copy.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use orch_core::store::{DeleteRangeResponse, LeaseGrant, PutResponse, Store, TxnResponse};
use orch_core::Result;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::command::{Command, Op};
use super::TypeConfig;
use crate::MemStore;

/// What applying a command produced, for the caller that proposed it.
pub(crate) enum Applied {
    Put(Result<PutResponse>),
    DeleteRange(Result<DeleteRangeResponse>),
    Txn(Result<TxnResponse>),
    LeaseGrant(Result<LeaseGrant>),
    Done(Result<()>),
}

/// Callers waiting for their proposals to be applied on this member, by
/// request number.
pub(crate) type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Applied>>>>;

pub(crate) struct StateMachine {
    pub(crate) member: u64,
    pub(crate) store: MemStore,
    pub(crate) pending: Pending,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, openraft::BasicNode>,
}

impl StateMachine {
    pub(crate) fn new(member: u64, store: MemStore, pending: Pending) -> Self {
        StateMachine {
            member,
            store,
            pending,
            last_applied: None,
            membership: StoredMembership::default(),
        }
    }

    async fn run(&self, op: Op) -> Applied {
        let s = &self.store;
        match op {
            Op::Put(p) => Applied::Put(s.put(p).await),
            Op::DeleteRange(d) => Applied::DeleteRange(s.delete_range(d).await),
            Op::Txn(t) => Applied::Txn(s.txn(t).await),
            Op::LeaseGrant { id, ttl_seconds } => {
                Applied::LeaseGrant(s.lease_grant(ttl_seconds, id).await)
            }
            Op::LeaseRevoke { id } => Applied::Done(s.lease_revoke(id).await),
            Op::Compact { revision } => Applied::Done(s.compact(revision).await),
        }
    }

    async fn apply_command(&self, cmd: Command) {
        for (request, op) in cmd.ops {
            let applied = self.run(op).await;
            if cmd.member == self.member {
                if let Some(waiter) = self.pending.lock().remove(&request) {
                    let _ = waiter.send(applied);
                }
            }
        }
    }
}

fn no_snapshots() -> StorageError<u64> {
    StorageIOError::write_snapshot(None, AnyError::error("snapshots are not built yet")).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(
        &mut self,
    ) -> std::result::Result<Snapshot<TypeConfig>, StorageError<u64>> {
        Err(no_snapshots())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<
        (Option<LogId<u64>>, StoredMembership<u64, openraft::BasicNode>),
        StorageError<u64>,
    > {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<()>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(cmd) => self.apply_command(cmd).await,
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            out.push(());
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        StateMachine::new(self.member, self.store.clone(), self.pending.clone())
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        _meta: &SnapshotMeta<u64, openraft::BasicNode>,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError<u64>> {
        Err(no_snapshots())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        Ok(None)
    }
}
