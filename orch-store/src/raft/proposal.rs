//! Writes through the log: each member queues its writes and proposes them
//! in batches, one log entry per batch, at the leader (a follower forwards
//! its batch, as etcd's followers forward proposals); a proposal retries
//! while leadership moves.

use std::sync::Weak;

use orch_core::{Error, Result};
use tokio::sync::oneshot;

use super::command::{Command, Op};
use super::forward::{ForwardError, PeerReply, PeerRequest};
use super::state_machine::Applied;
use super::{unavailable, Member, RaftStore, LEADER_WAIT, RETRY_PAUSE};

impl RaftStore {
    /// Proposes a write through the leader and returns what applying it
    /// produced. Retries (for up to 10 s) while leadership moves.
    pub(super) async fn propose(&self, op: Op) -> Result<Applied> {
        let start = tokio::time::Instant::now();
        loop {
            match self.member.propose(op.clone()).await {
                Ok(applied) => return Ok(applied),
                Err(Proposal::Retry(why)) if start.elapsed() < LEADER_WAIT => {
                    tracing::debug!(%why, "retrying a proposal at the new leader");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(Proposal::Retry(why)) => return Err(unavailable(why)),
                Err(Proposal::Failed(e)) => return Err(e),
            }
        }
    }
}

/// Why a proposal did not produce a result.
pub(super) enum Proposal {
    /// Nothing was proposed (no leader, or it moved): try again.
    Retry(String),
    Failed(Error),
}

/// A write waiting for the next batch, with where to send its outcome.
pub(super) type Queued = (Op, oneshot::Sender<std::result::Result<Applied, Proposal>>);

/// Most writes proposed as one log entry.
const MAX_BATCH: usize = 512;

impl Member {
    /// Queues a write for this member's next proposal and waits for what
    /// applying it produced (at the leader).
    pub(super) async fn propose(&self, op: Op) -> std::result::Result<Applied, Proposal> {
        let (reply, outcome) = oneshot::channel();
        self.proposals
            .send((op, reply))
            .map_err(|_| Proposal::Retry(format!("member {} stopped", self.id)))?;
        outcome.await.map_err(|_| Proposal::Retry(format!("member {} stopped", self.id)))?
    }
}

/// Proposes queued writes in batches: the writes that arrive while one
/// batch is being replicated and made durable go into the next log entry
/// together, so one fsync serves them all. A follower's batches are
/// forwarded to the leader, which answers with what applying them
/// produced.
pub(super) async fn propose_batches(
    member: Weak<Member>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Queued>,
) {
    while let Some(first) = queue.recv().await {
        let Some(member) = member.upgrade() else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().unzip();
        let written =
            member.ask_leader(PeerRequest::Write(Command { member: member.id, ops })).await;
        drop(member);
        let outcomes: Vec<std::result::Result<Applied, Proposal>> = match written {
            Ok(PeerReply::Written(applied)) if applied.len() == replies.len() => {
                applied.into_iter().map(Ok).collect()
            }
            Ok(_) => {
                let why = "the leader's answer did not match the writes proposed";
                replies.iter().map(|_| Err(Proposal::Failed(unavailable(why)))).collect()
            }
            Err(ForwardError::NotLeader(why) | ForwardError::NotSent(why)) => {
                replies.iter().map(|_| Err(Proposal::Retry(why.clone()))).collect()
            }
            // The leader may have appended them before it stopped answering.
            Err(ForwardError::Unreachable(why)) => {
                let why = format!(
                    "the leader stopped answering ({why}); the write may or may not have been \
                     applied"
                );
                replies.iter().map(|_| Err(Proposal::Failed(unavailable(&why)))).collect()
            }
            Err(e) => {
                let why = e.to_string();
                replies.iter().map(|_| Err(Proposal::Failed(unavailable(&why)))).collect()
            }
        };
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
}
