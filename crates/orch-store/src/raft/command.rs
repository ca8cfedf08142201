//! The replicated log's commands: every write of the store, with what the
//! leader decided (lease IDs, expiry) already in it, so that applying a
//! command is deterministic on every member.

use orch_core::store::{DeleteRangeRequest, PutRequest, TxnRequest};
use serde::{Deserialize, Serialize};

/// One write, as a log entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Command {
    /// The member that proposed it and its request number there: that
    /// member hands the result to the waiting caller when it applies it.
    pub(crate) origin: (u64, u64),
    pub(crate) op: Op,
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
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} from member {} request {}", self.op, self.origin.0, self.origin.1)
    }
}
