//! What one member asks another outside of Raft's own RPCs: a follower
//! forwards writes, ReadIndex requests and lease keep-alives to the leader
//! (as etcd's followers do), and asks peers who they are for `MemberList`.

use openraft::error::{ClientWriteError, RaftError};
use orch_core::store::{LeaseTimeToLive, Store};
use orch_core::Error;
use serde::{Deserialize, Serialize};

use super::command::Command;
use super::Member;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum PeerRequest {
    /// Propose this command (the follower's writes) to the log.
    Write(Command),
    /// Confirm leadership and return the index a linearizable read must
    /// wait for (Raft's ReadIndex).
    ReadIndex,
    LeaseKeepAlive(i64),
    LeaseTimeToLive {
        id: i64,
        keys: bool,
    },
    /// Who are you?
    Identify,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum PeerReply {
    Written,
    ReadIndex(Option<u64>),
    LeaseKeepAlive(i64),
    LeaseTimeToLive(LeaseTimeToLive),
    Identity { name: String, client_urls: Vec<String> },
}

/// Why a request to a peer failed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ForwardError {
    /// The peer is not the leader (or no longer): nothing was done; ask the
    /// new leader.
    NotLeader(String),
    /// The request never left this member (no connection to the peer):
    /// nothing was done; try again.
    NotSent(String),
    /// The peer did not answer: a write may or may not have reached the
    /// log.
    Unreachable(String),
    /// The peer refused this member: it knows it under another
    /// incarnation (this member lost its state).
    Refused(String),
    LeaseNotFound(i64),
    Failed(String),
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardError::NotLeader(why) => write!(f, "not the leader: {why}"),
            ForwardError::NotSent(why) => write!(f, "not sent: {why}"),
            ForwardError::Unreachable(why) => write!(f, "no answer: {why}"),
            ForwardError::Refused(why) => write!(f, "refused: {why}"),
            ForwardError::LeaseNotFound(id) => write!(f, "lease {id:#x} not found"),
            ForwardError::Failed(why) => f.write_str(why),
        }
    }
}

impl From<ForwardError> for Error {
    fn from(e: ForwardError) -> Error {
        match e {
            ForwardError::LeaseNotFound(id) => Error::LeaseNotFound(id),
            other => super::unavailable(other),
        }
    }
}

impl From<Error> for ForwardError {
    fn from(e: Error) -> ForwardError {
        match e {
            Error::LeaseNotFound(id) => ForwardError::LeaseNotFound(id),
            other => ForwardError::Failed(other.to_string()),
        }
    }
}

/// Maps a failed `client_write`: a member that is not the leader did
/// nothing; a stopped one may have appended the entry.
pub(crate) fn write_error(
    e: RaftError<u64, ClientWriteError<u64, openraft::BasicNode>>,
) -> ForwardError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ForwardError::NotLeader(f.to_string())
        }
        RaftError::Fatal(f) => ForwardError::Unreachable(f.to_string()),
        other => ForwardError::Failed(other.to_string()),
    }
}

impl Member {
    /// Answers a peer's request.
    pub(crate) async fn answer(&self, request: PeerRequest) -> Result<PeerReply, ForwardError> {
        let not_leader = |e: &dyn std::fmt::Display| ForwardError::NotLeader(e.to_string());
        match request {
            PeerRequest::Write(cmd) => {
                self.raft.client_write(cmd).await.map_err(write_error)?;
                Ok(PeerReply::Written)
            }
            PeerRequest::ReadIndex => {
                let (read, _) = self.raft.get_read_log_id().await.map_err(|e| not_leader(&e))?;
                Ok(PeerReply::ReadIndex(read.map(|l| l.index)))
            }
            PeerRequest::LeaseKeepAlive(id) => {
                self.raft.ensure_linearizable().await.map_err(|e| not_leader(&e))?;
                Ok(PeerReply::LeaseKeepAlive(self.store.lease_keep_alive(id).await?))
            }
            PeerRequest::LeaseTimeToLive { id, keys } => {
                self.raft.ensure_linearizable().await.map_err(|e| not_leader(&e))?;
                Ok(PeerReply::LeaseTimeToLive(self.store.lease_time_to_live(id, keys).await?))
            }
            PeerRequest::Identify => Ok(PeerReply::Identity {
                name: self.info.name.clone(),
                client_urls: self.info.client_urls.clone(),
            }),
        }
    }
}
