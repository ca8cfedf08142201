//! What one member asks another outside of Raft's own RPCs: a follower
//! forwards writes, ReadIndex requests and lease keep-alives to the leader
//! (as etcd's followers do), and asks peers who they are for `MemberList`.

use openraft::error::{ClientWriteError, RaftError};
use orch_core::store::{LeaseTimeToLive, Store};
use orch_core::Error;
use serde::{Deserialize, Serialize};

use super::command::Command;
use super::state_machine::Applied;
use super::store_error::StoreError;
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
    /// Add member `id`, reachable on `addr`, as a voter (through joint
    /// consensus).
    AddMember {
        id: u64,
        addr: String,
    },
    /// Remove member `id` (through joint consensus).
    RemoveMember {
        id: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum PeerReply {
    /// What the command's writes produced, in order.
    Written(Vec<Applied>),
    ReadIndex(Option<u64>),
    LeaseKeepAlive(i64),
    LeaseTimeToLive(LeaseTimeToLive),
    Identity {
        name: String,
        client_urls: Vec<String>,
        cluster_id: u64,
    },
    MembershipChanged,
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
    /// The store said no (a lease that does not exist, …).
    Store(StoreError),
    Failed(String),
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardError::NotLeader(why) => write!(f, "not the leader: {why}"),
            ForwardError::NotSent(why) => write!(f, "not sent: {why}"),
            ForwardError::Unreachable(why) => write!(f, "no answer: {why}"),
            ForwardError::Refused(why) => write!(f, "refused: {why}"),
            ForwardError::Store(e) => write!(f, "{}", Error::from(e.clone())),
            ForwardError::Failed(why) => f.write_str(why),
        }
    }
}

impl From<ForwardError> for Error {
    fn from(e: ForwardError) -> Error {
        match e {
            ForwardError::Store(e) => e.into(),
            other => super::unavailable(other),
        }
    }
}

impl From<Error> for ForwardError {
    fn from(e: Error) -> ForwardError {
        ForwardError::Store(e.into())
    }
}

/// Maps a failed `client_write` (or membership change): a member that is
/// not the leader did nothing; a stopped one may have appended the entry.
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
    /// The voters of the current membership.
    fn voters(&self) -> std::collections::BTreeSet<u64> {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        membership.membership().voter_ids().collect()
    }

    /// Answers a peer's request.
    pub(crate) async fn answer(&self, request: PeerRequest) -> Result<PeerReply, ForwardError> {
        let not_leader = |e: &dyn std::fmt::Display| ForwardError::NotLeader(e.to_string());
        match request {
            PeerRequest::Write(cmd) => {
                let written = self.raft.client_write(cmd).await.map_err(write_error)?;
                Ok(PeerReply::Written(written.data))
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
                cluster_id: self.info.cluster_id,
            }),
            PeerRequest::AddMember { id, addr } => {
                self.raft
                    .add_learner(id, openraft::BasicNode::new(addr), false)
                    .await
                    .map_err(write_error)?;
                let mut voters = self.voters();
                voters.insert(id);
                self.raft.change_membership(voters, false).await.map_err(write_error)?;
                Ok(PeerReply::MembershipChanged)
            }
            PeerRequest::RemoveMember { id } => {
                let mut voters = self.voters();
                if !voters.remove(&id) {
                    return Err(ForwardError::Store(StoreError::InvalidRequest(format!(
                        "member {id:x} is not in the cluster"
                    ))));
                }
                self.raft.change_membership(voters, false).await.map_err(write_error)?;
                Ok(PeerReply::MembershipChanged)
            }
        }
    }
}
