//! The replicated log's commands: every write of the store, with what the
//! leader decided (lease IDs, expiry) already in it, so that applying a
//! command is deterministic on every member.

use orch_core::store::{DeleteRangeRequest, PutRequest, TxnRequest};
use serde::{Deserialize, Serialize};

use crate::AlarmMember;

/// A batch of writes proposed together, as one log entry. Applied in
/// order; each takes its own revision(s).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Command {
    /// The member that proposed them (for logs and traces).
    pub(crate) member: u64,
    /// The writes, in order.
    pub(crate) ops: Vec<Op>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    /// A lease with the ID the leader chose.
    LeaseGrant {
        id: i64,
        ttl_seconds: i64,
    },
    /// A revoke from a client, or an expiry the leader decided.
    LeaseRevoke {
        id: i64,
    },
    Compact {
        revision: i64,
    },
    // Variants after this line came later: new ones go at the end, so that
    // a log written before them still decodes (postcard numbers variants).
    /// A write (put, txn or lease grant) held against the backend quota of
    /// the member that proposed it, in bytes (see `quota.rs`): every member
    /// refuses or applies it alike.
    WithinQuota {
        quota_bytes: u64,
        op: Box<Op>,
    },
    /// An alarm raised (`activate`) or disarmed (etcd's `AlarmRequest`,
    /// through the log as in etcd).
    Alarm {
        activate: bool,
        alarm: AlarmMember,
    },
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} write(s) from member {}", self.ops.len(), self.member)
    }
}
