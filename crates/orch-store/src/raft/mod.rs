//! [`RaftStore`]: a [`Store`] replicated with openraft.
//!
//! Every write is a log entry; every member applies the log, in order, to
//! its own MVCC store, so all members hold the same keys at the same
//! revisions and each serves watches from its own copy. Reads are
//! linearizable (ReadIndex through the leader). Leases follow etcd: the
//! leader chooses lease IDs, keeps the TTLs (keep-alives go to it), decides
//! expiry and revokes expired leases through the log, so every member
//! deletes the same keys at the same revision; a new leader restarts every
//! TTL, as etcd's lessor does on promotion.
//!
//! This slice runs members in one process over an in-process network, with
//! an in-memory log ([`RaftStore::in_process`]) or a durable one
//! ([`RaftStore::in_process_durable`]); snapshots and the gRPC network
//! between processes are to come.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store};
//! use orch_store::RaftStore;
//!
//! let members = RaftStore::in_process(3).await?;
//! members[0].put(PutRequest::new("/k", "v")).await?;
//! // Any member reads it (linearizably).
//! let read = members[2].range(RangeRequest::new(KeyRange::key("/k"))).await?;
//! assert_eq!(read.kvs[0].value, "v");
//! # Ok::<(), orch_core::Error>(())
//! # }).unwrap();
//! ```

mod command;
mod log_store;
mod network;
mod state_machine;

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use orch_core::store::{
    DeleteRangeRequest, DeleteRangeResponse, LeaseGrant, LeaseTimeToLive, PutRequest, PutResponse,
    RangeRequest, RangeResponse, Store, TxnRequest, TxnResponse, WatchRequest, WatchStream,
};
use orch_core::{Error, Result};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::{MemStore, MemStoreConfig};
use command::{Command, Op};
use log_store::LogStore;
use network::Router;
use state_machine::{Applied, Pending, StateMachine};

openraft::declare_raft_types!(
    /// orch's Raft types: log entries carry store commands.
    pub(crate) TypeConfig:
        D = Command,
        R = (),
);

/// How often the leader looks for expired leases.
const LEASE_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long a call waits for a leader before it fails with `Unavailable`.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// The pause between tries while a leader is elected or leadership moves.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// One member of a Raft-replicated store. Each member is a full [`Store`]:
/// writes go to the leader through the log, reads are linearizable, watches
/// are served from this member's copy once it has applied everything the
/// leader had committed when the watch was made.
#[derive(Clone)]
pub struct RaftStore {
    member: Arc<Member>,
    cluster: Members,
}

/// The members of a cluster in this process, by ID.
type Members = Arc<Mutex<HashMap<u64, Arc<Member>>>>;

struct Member {
    id: u64,
    raft: Raft<TypeConfig>,
    store: MemStore,
    /// Writes waiting to be proposed (see [`propose_batches`]).
    proposals: tokio::sync::mpsc::UnboundedSender<Queued>,
}

impl std::fmt::Debug for RaftStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftStore").field("member", &self.member.id).finish()
    }
}

fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("raft: {what}"))
}

impl RaftStore {
    /// Starts `members` (1, 3 or 5) members in this process, connected by
    /// an in-process network, and waits until they have elected a leader.
    /// Returns one handle per member, member IDs 1..=members in order.
    ///
    /// Errors: `InvalidRequest` for 0 members; `Unavailable` if Raft cannot
    /// start or no leader is elected within 10 s.
    pub async fn in_process(members: usize) -> Result<Vec<RaftStore>> {
        Self::start(members, None).await
    }

    /// As [`RaftStore::in_process`], with each member's log and vote durable
    /// under `data_dir/member-<id>` (fsynced before a write is
    /// acknowledged). Started again on the same directory, the
    /// members recover their state by replaying their logs.
    ///
    /// Errors: as `in_process`; `Unavailable` if a log cannot be opened.
    pub async fn in_process_durable(members: usize, data_dir: &Path) -> Result<Vec<RaftStore>> {
        Self::start(members, Some(data_dir)).await
    }

    async fn start(members: usize, data_dir: Option<&Path>) -> Result<Vec<RaftStore>> {
        if members == 0 {
            return Err(Error::InvalidRequest("a Raft store needs at least one member".into()));
        }
        let config = Arc::new(
            Config {
                cluster_name: "orch".into(),
                // etcd's defaults (--heartbeat-interval 100 ms, --election-timeout
                // 1000 ms): shorter timeouts let a loaded machine's scheduling
                // delays start elections, and each new leader restarts lease TTLs.
                heartbeat_interval: 100,
                election_timeout_min: 1000,
                election_timeout_max: 2000,
                snapshot_policy: SnapshotPolicy::Never,
                ..Default::default()
            }
            .validate()
            .map_err(unavailable)?,
        );
        let router = Router::default();
        let cluster: Members = Arc::default();
        let mut handles = Vec::new();
        for id in 1..=members as u64 {
            let store = MemStore::with_config(MemStoreConfig {
                expire_leases: false,
                ..MemStoreConfig::default()
            });
            let pending: Pending = Arc::default();
            let sm = StateMachine::new(id, store.clone(), pending.clone());
            let log = match data_dir {
                Some(dir) => LogStore::open(&dir.join(format!("member-{id}")))
                    .map_err(|e| unavailable(format!("member {id}'s log: {e}")))?,
                None => LogStore::in_memory(),
            };
            let raft = Raft::new(id, config.clone(), router.clone(), log, sm)
                .await
                .map_err(unavailable)?;
            router.members.write().insert(id, raft.clone());
            let (proposals, queue) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(propose_batches(id, raft.clone(), pending, queue));
            let member = Arc::new(Member { id, raft, store, proposals });
            cluster.lock().insert(id, member.clone());
            tokio::spawn(expire_leases(Arc::downgrade(&member)));
            handles.push(RaftStore { member, cluster: cluster.clone() });
        }
        let nodes: BTreeMap<u64, BasicNode> =
            (1..=members as u64).map(|id| (id, BasicNode::new("in-process"))).collect();
        // A restarted cluster is initialized already: its logs say so.
        match handles[0].member.raft.initialize(nodes).await {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.api_error(),
                    Some(openraft::error::InitializeError::NotAllowed(_))
                ) => {}
            Err(e) => return Err(unavailable(e)),
        }
        handles[0].leader().await?;
        Ok(handles)
    }

    /// This member's ID.
    pub fn id(&self) -> u64 {
        self.member.id
    }

    /// The current leader's ID, if one is known to this member.
    pub async fn current_leader(&self) -> Option<u64> {
        self.member.raft.current_leader().await
    }

    /// Stops this member's Raft. Calls on it fail with `Unavailable` after.
    pub async fn shutdown(&self) {
        let _ = self.member.raft.shutdown().await;
    }

    /// The leader member, waiting (bounded) for an election.
    async fn leader(&self) -> Result<Arc<Member>> {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(id) = self.member.raft.current_leader().await {
                let member = self.cluster.lock().get(&id).cloned();
                if let Some(m) = member {
                    return Ok(m);
                }
            }
            if start.elapsed() > LEADER_WAIT {
                return Err(unavailable(format!("no leader within {LEADER_WAIT:?}")));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Proposes a write through the leader and returns what applying it
    /// produced. Retries (for up to 10 s) while leadership moves.
    async fn propose(&self, op: Op) -> Result<Applied> {
        let start = tokio::time::Instant::now();
        loop {
            let leader = self.leader().await?;
            match leader.propose(op.clone()).await {
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

    /// The leader, after it has confirmed its leadership and applied every
    /// entry committed before this call (a ReadIndex read), with the log ID
    /// of that read. Retries (for up to 10 s) while leadership moves.
    async fn linearizable(&self) -> Result<Arc<Member>> {
        Ok(self.read_index().await?.0)
    }

    async fn read_index(&self) -> Result<(Arc<Member>, Option<u64>)> {
        let start = tokio::time::Instant::now();
        loop {
            let leader = self.leader().await?;
            match leader.raft.ensure_linearizable().await {
                Ok(read) => return Ok((leader, read.map(|l| l.index))),
                Err(e) if start.elapsed() < LEADER_WAIT => {
                    tracing::debug!(error = %e, "retrying a read at the new leader");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }
}

/// Why a proposal did not produce a result.
enum Proposal {
    /// The member is not (or no longer) the leader: ask the new one.
    Retry(String),
    Failed(Error),
}

/// A write waiting for the next batch, with where to send its outcome.
type Queued = (Op, oneshot::Sender<std::result::Result<Applied, Proposal>>);

/// Most writes proposed as one log entry.
const MAX_BATCH: usize = 512;

impl Member {
    /// Queues a write for this member's next proposal and waits for it to
    /// be applied here.
    async fn propose(&self, op: Op) -> std::result::Result<Applied, Proposal> {
        let (reply, outcome) = oneshot::channel();
        self.proposals
            .send((op, reply))
            .map_err(|_| Proposal::Retry(format!("member {} stopped", self.id)))?;
        outcome.await.map_err(|_| Proposal::Retry(format!("member {} stopped", self.id)))?
    }
}

/// Proposes queued writes in batches: the writes that arrive while one
/// batch is being replicated and made durable go into the next log entry
/// together, so one fsync serves them all.
async fn propose_batches(
    id: u64,
    raft: Raft<TypeConfig>,
    pending: Pending,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Queued>,
) {
    let mut next_request: u64 = 1;
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let mut ops = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for (op, reply) in batch {
            let request = next_request;
            next_request += 1;
            let (tx, rx) = oneshot::channel();
            pending.lock().insert(request, tx);
            ops.push((request, op));
            waiting.push((request, rx, reply));
        }
        let written = raft.client_write(Command { member: id, ops }).await;
        let failure = written.err().map(|e| match e {
            openraft::error::RaftError::APIError(ref api) if e.forward_to_leader().is_some() => {
                (true, api.to_string())
            }
            // This member stopped (or failed): another may lead now.
            openraft::error::RaftError::Fatal(f) => (true, f.to_string()),
            other => (false, other.to_string()),
        });
        for (request, rx, reply) in waiting {
            let outcome = match &failure {
                None => rx
                    .await
                    .map_err(|_| Proposal::Failed(unavailable("an applied entry had no answer"))),
                Some((retry, why)) => {
                    pending.lock().remove(&request);
                    Err(if *retry {
                        Proposal::Retry(why.clone())
                    } else {
                        Proposal::Failed(unavailable(why))
                    })
                }
            };
            let _ = reply.send(outcome);
        }
    }
}

/// The leader's lease clock: revokes expired leases through the log, and
/// restarts every TTL when this member becomes leader.
async fn expire_leases(member: Weak<Member>) {
    let mut was_leader = false;
    loop {
        tokio::time::sleep(LEASE_CHECK_INTERVAL).await;
        let Some(m) = member.upgrade() else { return };
        let leader = m.raft.metrics().borrow().current_leader == Some(m.id);
        if leader && !was_leader {
            m.store.refresh_leases();
        }
        was_leader = leader;
        if !leader {
            continue;
        }
        for id in m.store.expired_leases() {
            // A concurrent revoke may win: fine.
            let _ = m.propose(Op::LeaseRevoke { id }).await;
        }
    }
}

fn wrong(applied: &'static str) -> Error {
    unavailable(format!("unexpected result of applying a {applied}"))
}

#[async_trait]
impl Store for RaftStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.linearizable().await?.store.range(req).await
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        match self.propose(Op::Put(req)).await? {
            Applied::Put(r) => r,
            _ => Err(wrong("put")),
        }
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        match self.propose(Op::DeleteRange(req)).await? {
            Applied::DeleteRange(r) => r,
            _ => Err(wrong("delete")),
        }
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        match self.propose(Op::Txn(req)).await? {
            Applied::Txn(r) => r,
            _ => Err(wrong("txn")),
        }
    }

    /// Served from this member's copy, after it has applied everything the
    /// leader had committed when the watch was made.
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let (_, read) = self.read_index().await?;
        self.member
            .raft
            .wait(Some(LEADER_WAIT))
            .applied_index_at_least(read, "watch catch-up")
            .await
            .map_err(unavailable)?;
        self.member.store.watch(req).await
    }

    async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant> {
        let id = if id == 0 { fastrand::i64(1..i64::MAX) } else { id };
        match self.propose(Op::LeaseGrant { id, ttl_seconds }).await? {
            Applied::LeaseGrant(r) => r,
            _ => Err(wrong("lease grant")),
        }
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        self.linearizable().await?.store.lease_keep_alive(id).await
    }

    async fn lease_revoke(&self, id: i64) -> Result<()> {
        match self.propose(Op::LeaseRevoke { id }).await? {
            Applied::Done(r) => r,
            _ => Err(wrong("lease revoke")),
        }
    }

    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        self.linearizable().await?.store.lease_time_to_live(id, keys).await
    }

    async fn leases(&self) -> Result<Vec<i64>> {
        self.linearizable().await?.store.leases().await
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        match self.propose(Op::Compact { revision }).await? {
            Applied::Done(r) => r,
            _ => Err(wrong("compact")),
        }
    }
}
