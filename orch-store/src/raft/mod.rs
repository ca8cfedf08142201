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
//! Members run in one process over an in-process network, with an
//! in-memory log ([`RaftStore::in_process`]) or a durable one
//! ([`RaftStore::in_process_durable`]), or each in its own process, talking
//! gRPC ([`RaftStore::start_member`]). Every [`RaftOptions::snapshot_entries`]
//! entries a member snapshots its store and discards the log behind it; a
//! follower too far behind receives the leader's snapshot.
//!
//! As etcd, a member holds its database to a backend quota
//! ([`RaftOptions::quota_backend_bytes`], default 2 GiB): a write past it
//! fails with [`Error::NoSpace`] and raises a NOSPACE alarm, replicated
//! through the log and kept in snapshots, after which the cluster takes
//! only reads, deletes, compaction and lease revocation until the alarm is
//! disarmed (see `quota.rs`, and [`Alarms`](crate::Alarms) for the size and
//! the alarms; over etcd's API, `etcdctl alarm list` and `alarm disarm`).
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

mod alarm;
mod command;
mod forward;
mod identity;
mod lease_clock;
mod log_store;
mod member;
mod metrics;
mod network;
mod peer;
mod proposal;
mod quota;
mod state_machine;
mod status;
mod store_error;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
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
use forward::{ForwardError, PeerReply, PeerRequest};
use log_store::LogStore;
pub use member::MemberConfig;
pub use metrics::RaftMetrics;

pub use network::NetworkFaults;
use network::{Network, Router};
use proposal::{propose_batches, Queued};
use state_machine::{Applied, StateMachine};

openraft::declare_raft_types!(
    /// orch's Raft types: log entries carry store commands.
    pub(crate) TypeConfig:
        D = Command,
        R = Vec<Applied>,
);

/// How often the leader looks for expired leases.
const LEASE_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long a call waits for a leader before it fails with `Unavailable`.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// The pause between tries while a leader is elected or leadership moves.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// One member of a Raft-replicated store. Each member is a full [`Store`]:
/// writes go to the leader through the log (a follower forwards them, as
/// etcd's do), reads are linearizable (ReadIndex: the leader confirms its
/// leadership and names the commit index, this member waits until it has
/// applied that far and reads its own copy), watches are served from this
/// member's copy.
#[derive(Clone)]
pub struct RaftStore {
    member: Arc<Member>,
}

pub(crate) struct Member {
    id: u64,
    /// Who this member is to etcd's API (cluster ID, peer and client URLs).
    info: crate::MemberInfo,
    raft: Raft<TypeConfig>,
    store: MemStore,
    network: Network,
    /// Writes waiting to be proposed (see `proposal::propose_batches`).
    proposals: tokio::sync::mpsc::UnboundedSender<Queued>,
    /// Stops the gRPC peer server, for a member in its own process.
    peer_server: Mutex<Option<oneshot::Sender<()>>>,
    /// The cluster's raised alarms, as this member applied them.
    alarms: alarm::SharedAlarms,
    /// This member's backend quota in bytes (`None`: no quota).
    quota: Option<u64>,
    /// What its log records for [`RaftMetrics`].
    log_metrics: Arc<metrics::LogMetrics>,
}

impl std::fmt::Debug for RaftStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftStore")
            .field("member", &self.member.id)
            .field("name", &self.member.info.name)
            .finish()
    }
}

fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("raft: {what}"))
}

/// How a member snapshots its state and compacts its log, and the space
/// its database may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftOptions {
    /// A snapshot is built after this many log entries since the last one
    /// (etcd's `--snapshot-count`; default 100,000, etcd's). The log up to the
    /// snapshot is then discarded, but for `logs_kept_after_snapshot`
    /// entries.
    pub snapshot_entries: u64,
    /// Log entries kept behind a snapshot, so that a follower slightly
    /// behind catches up from the log rather than by a whole snapshot
    /// (default 5,000, etcd's).
    pub logs_kept_after_snapshot: u64,
    /// The backend quota, in bytes (etcd's `--quota-backend-bytes`,
    /// read as etcd reads it: 0 means etcd's default of 2 GiB,
    /// [`DEFAULT_QUOTA_BACKEND_BYTES`](Self::DEFAULT_QUOTA_BACKEND_BYTES);
    /// a negative value, no quota). A write that would take the database
    /// size ([`Alarms::db_size_bytes`](crate::Alarms::db_size_bytes): the
    /// key and value of every revision kept, plus 256 bytes each, plus 64
    /// bytes per lease) to the quota is refused with
    /// [`Error::NoSpace`] and raises this member's NOSPACE alarm, which
    /// then holds off every put, txn with puts and lease grant in the
    /// cluster until it is disarmed ([`Alarms::alarm_disarm`](crate::Alarms::alarm_disarm),
    /// `etcdctl alarm disarm`) — reads, deletes, compaction and lease
    /// revocation keep working. Compaction frees the revisions it drops
    /// (there is no defragmentation to wait for, as etcd's bolt file
    /// needs). The quota is a RaftStore feature: `MemStore` has none.
    pub quota_backend_bytes: i64,
}

impl RaftOptions {
    /// etcd's default backend quota: 2 GiB, in bytes.
    pub const DEFAULT_QUOTA_BACKEND_BYTES: i64 = quota::DEFAULT_QUOTA_BACKEND_BYTES as i64;
}

impl Default for RaftOptions {
    fn default() -> Self {
        RaftOptions {
            snapshot_entries: 100_000,
            logs_kept_after_snapshot: 5_000,
            quota_backend_bytes: Self::DEFAULT_QUOTA_BACKEND_BYTES,
        }
    }
}

/// openraft's settings for every member.
fn raft_config(options: RaftOptions) -> Result<Arc<Config>> {
    let config = Config {
        cluster_name: "orch".into(),
        // etcd's defaults (--heartbeat-interval 100 ms, --election-timeout
        // 1000 ms): shorter timeouts let a loaded machine's scheduling
        // delays start elections, and each new leader restarts lease TTLs.
        heartbeat_interval: 100,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_entries.max(1)),
        max_in_snapshot_log_to_keep: options.logs_kept_after_snapshot,
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(unavailable)?))
}

impl Member {
    /// Starts one member's Raft, its proposal batcher and its lease clock.
    /// `dir`: where a durable member's snapshot is kept (its log's
    /// directory).
    async fn start(
        info: crate::MemberInfo,
        network: Network,
        log: LogStore,
        dir: Option<&Path>,
        options: RaftOptions,
    ) -> Result<Arc<Member>> {
        let id = info.member_id;
        let store =
            MemStore::with_config(MemStoreConfig { expire_leases: false, ..Default::default() });
        let alarms = alarm::SharedAlarms::default();
        let log_metrics = log.metrics();
        let sm = StateMachine::open(store.clone(), alarms.clone(), dir)
            .map_err(|e| unavailable(format!("member {id}'s snapshot: {e}")))?;
        let raft = Raft::new(id, raft_config(options)?, network.clone(), log, sm)
            .await
            .map_err(unavailable)?;
        let (proposals, queue) = tokio::sync::mpsc::unbounded_channel();
        let member = Arc::new(Member {
            id,
            info,
            raft,
            store,
            network,
            proposals,
            peer_server: Mutex::new(None),
            alarms,
            quota: quota::effective_quota(options.quota_backend_bytes),
            log_metrics,
        });
        tokio::spawn(propose_batches(Arc::downgrade(&member), queue));
        tokio::spawn(lease_clock::expire_leases(Arc::downgrade(&member)));
        Ok(member)
    }

    /// Initializes the cluster with `members` (ID → peer address) if this
    /// member's log is pristine; a member that has a log already belongs
    /// to a cluster.
    async fn initialize(&self, members: BTreeMap<u64, BasicNode>) -> Result<()> {
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.api_error(),
                    Some(openraft::error::InitializeError::NotAllowed(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Sends `request` to the leader (answering it here if this member
    /// leads).
    async fn ask_leader(
        &self,
        request: PeerRequest,
    ) -> std::result::Result<PeerReply, ForwardError> {
        let leader = self
            .raft
            .current_leader()
            .await
            .ok_or_else(|| ForwardError::NotLeader("no leader is known yet".into()))?;
        if leader == self.id {
            return self.answer(request).await;
        }
        if let Network::Grpc(peers) = &self.network {
            // A member added after this one started, which this one never
            // sent a Raft message to (it won an election without this
            // member's vote being asked first): its address is in the
            // membership.
            let membership = self.raft.metrics().borrow().membership_config.clone();
            let addr =
                membership.nodes().find(|(id, _)| **id == leader).map(|(_, n)| n.addr.clone());
            if let Some(addr) = addr {
                peers.learn(leader, &addr);
            }
        }
        self.network.ask(self.id, leader, request).await
    }

    /// Asks the leader (retrying for up to 10 s while leadership moves or
    /// the leader is unreachable): for requests that are safe to repeat.
    async fn ask_leader_retrying(&self, request: impl Fn() -> PeerRequest) -> Result<PeerReply> {
        let start = tokio::time::Instant::now();
        loop {
            match self.ask_leader(request()).await {
                Ok(reply) => return Ok(reply),
                Err(
                    e @ (ForwardError::NotLeader(_)
                    | ForwardError::NotSent(_)
                    | ForwardError::Unreachable(_)),
                ) if start.elapsed() < LEADER_WAIT => {
                    tracing::debug!(error = %e, "retrying at the leader");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits until this member has applied everything the leader had
    /// committed when this was called (a ReadIndex read).
    async fn catch_up(&self) -> Result<()> {
        let PeerReply::ReadIndex(read) =
            self.ask_leader_retrying(|| PeerRequest::ReadIndex).await?
        else {
            return Err(unavailable("the leader's answer to a ReadIndex request was not an index"));
        };
        self.raft
            .wait(Some(LEADER_WAIT))
            .applied_index_at_least(read, "ReadIndex")
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl RaftStore {
    /// Starts `members` (1, 3 or 5) members in this process, connected by
    /// an in-process network (into which [`faults`](Self::faults) can inject
    /// drops, delays and partitions), and waits until they have elected a
    /// leader. Returns one handle per member, member IDs 1..=members in order.
    ///
    /// Errors: `InvalidRequest` for 0 members; `Unavailable` if Raft cannot
    /// start or no leader is elected within 10 s.
    pub async fn in_process(members: usize) -> Result<Vec<RaftStore>> {
        Self::in_process_with(members, None, RaftOptions::default()).await
    }

    /// As [`RaftStore::in_process`], with each member's log and vote durable
    /// under `data_dir/member-<id>` (fsynced before a write is
    /// acknowledged). Started again on the same directory, the
    /// members recover their state by replaying their logs.
    ///
    /// Errors: as `in_process`; `Unavailable` if a log cannot be opened.
    pub async fn in_process_durable(members: usize, data_dir: &Path) -> Result<Vec<RaftStore>> {
        Self::in_process_with(members, Some(data_dir), RaftOptions::default()).await
    }

    /// As [`RaftStore::in_process`] (`data_dir` `None`) or
    /// [`RaftStore::in_process_durable`], with `options` for snapshots,
    /// log compaction and the backend quota.
    ///
    /// Errors: as those.
    pub async fn in_process_with(
        members: usize,
        data_dir: Option<&Path>,
        options: RaftOptions,
    ) -> Result<Vec<RaftStore>> {
        if members == 0 {
            return Err(Error::InvalidRequest("a Raft store needs at least one member".into()));
        }
        let router = Router::default();
        let mut handles = Vec::new();
        for id in 1..=members as u64 {
            let dir = data_dir.map(|d| d.join(format!("member-{id}")));
            let log = match &dir {
                Some(dir) => LogStore::open(dir)
                    .map_err(|e| unavailable(format!("member {id}'s log: {e}")))?,
                None => LogStore::in_memory(),
            };
            let network = Network::InProcess(router.clone());
            let info = crate::MemberInfo {
                cluster_id: crate::etcd_api::name_id(&format!("in-process-{members}")),
                member_id: id,
                name: format!("member-{id}"),
                peer_urls: Vec::new(),
                client_urls: Vec::new(),
            };
            let member = Member::start(info, network, log, dir.as_deref(), options).await?;
            router.members.write().insert(id, member.clone());
            handles.push(RaftStore { member });
        }
        let nodes = (1..=members as u64).map(|id| (id, BasicNode::new("in-process"))).collect();
        handles[0].member.initialize(nodes).await?;
        handles[0].wait_for_leader().await?;
        Ok(handles)
    }

    /// This member's Raft ID.
    pub fn id(&self) -> u64 {
        self.member.id
    }

    /// This member's name.
    pub fn name(&self) -> &str {
        &self.member.info.name
    }

    /// The current leader's ID, if one is known to this member.
    pub async fn current_leader(&self) -> Option<u64> {
        self.member.raft.current_leader().await
    }

    /// Waits (up to 10 s) until this member knows a leader; returns its ID.
    ///
    /// Errors: `Unavailable` if no leader is known within 10 s.
    pub async fn wait_for_leader(&self) -> Result<u64> {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(id) = self.member.raft.current_leader().await {
                return Ok(id);
            }
            if start.elapsed() > LEADER_WAIT {
                return Err(unavailable(format!("no leader within {LEADER_WAIT:?}")));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// The faults of the in-process network this member is on (`None` for
    /// a member in its own process).
    pub fn faults(&self) -> Option<NetworkFaults> {
        match &self.member.network {
            Network::InProcess(router) => Some(NetworkFaults::new(router.clone())),
            Network::Grpc(_) => None,
        }
    }

    /// Adds a member reachable on `peer_addr` (`host:port`) to the cluster
    /// as a voter, through joint consensus (openraft: added as a learner,
    /// then the membership changed); returns its ID (derived from the
    /// address, as the member derives its own). Start the member with
    /// [`MemberConfig::join_existing`] set.
    ///
    /// Errors: `Unavailable` if there is no leader or the change fails.
    pub async fn add_member(&self, peer_addr: &str) -> Result<u64> {
        let id = crate::etcd_api::name_id(peer_addr);
        let addr = peer_addr.to_string();
        self.member
            .ask_leader_retrying(|| PeerRequest::AddMember { id, addr: addr.clone() })
            .await?;
        Ok(id)
    }

    /// Removes member `id` from the cluster, through joint consensus.
    ///
    /// Errors: `InvalidRequest` if it is not a member; `Unavailable` if
    /// there is no leader or the change fails.
    pub async fn remove_member(&self, id: u64) -> Result<()> {
        self.member.ask_leader_retrying(|| PeerRequest::RemoveMember { id }).await?;
        Ok(())
    }

    /// Stops this member: its Raft and its peer server. Calls on it fail
    /// with `Unavailable` after.
    pub async fn shutdown(&self) {
        if let Network::InProcess(router) = &self.member.network {
            router.members.write().remove(&self.member.id);
        }
        if let Some(stop) = self.member.peer_server.lock().take() {
            let _ = stop.send(());
        }
        let _ = self.member.raft.shutdown().await;
    }
}

fn wrong(what: &'static str) -> Error {
    unavailable(format!("unexpected answer to a {what}"))
}

#[async_trait]
impl Store for RaftStore {
    /// Linearizable unless `serializable` is set: then answered from this
    /// member's copy as it is.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        if !req.serializable {
            self.member.catch_up().await?;
        }
        self.member.store.range(req).await
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        match self.propose(self.within_quota(Op::Put(req))).await? {
            Applied::Put(r) => r.map_err(Error::from),
            _ => Err(wrong("put")),
        }
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        match self.propose(Op::DeleteRange(req)).await? {
            Applied::DeleteRange(r) => r.map_err(Error::from),
            _ => Err(wrong("delete")),
        }
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        match self.propose(self.within_quota(Op::Txn(req))).await? {
            Applied::Txn(r) => r.map_err(Error::from),
            _ => Err(wrong("txn")),
        }
    }

    /// Served from this member's copy, after it has applied everything the
    /// leader had committed when the watch was made.
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        self.member.catch_up().await?;
        self.member.store.watch(req).await
    }

    async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant> {
        let id = if id == 0 { fastrand::i64(1..i64::MAX) } else { id };
        match self.propose(self.within_quota(Op::LeaseGrant { id, ttl_seconds })).await? {
            Applied::LeaseGrant(r) => r.map_err(Error::from),
            _ => Err(wrong("lease grant")),
        }
    }

    /// Sent to the leader, which keeps the TTLs.
    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        match self.member.ask_leader_retrying(|| PeerRequest::LeaseKeepAlive(id)).await? {
            PeerReply::LeaseKeepAlive(ttl) => Ok(ttl),
            _ => Err(wrong("lease keep-alive")),
        }
    }

    async fn lease_revoke(&self, id: i64) -> Result<()> {
        match self.propose(Op::LeaseRevoke { id }).await? {
            Applied::Done(r) => r.map_err(Error::from),
            _ => Err(wrong("lease revoke")),
        }
    }

    /// Asked of the leader, which keeps the TTLs.
    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        match self.member.ask_leader_retrying(|| PeerRequest::LeaseTimeToLive { id, keys }).await? {
            PeerReply::LeaseTimeToLive(t) => Ok(t),
            _ => Err(wrong("lease time-to-live")),
        }
    }

    async fn leases(&self) -> Result<Vec<i64>> {
        self.member.catch_up().await?;
        self.member.store.leases().await
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        match self.propose(Op::Compact { revision }).await? {
            Applied::Done(r) => r.map_err(Error::from),
            _ => Err(wrong("compact")),
        }
    }
}
