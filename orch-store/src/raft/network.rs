//! How members reach each other: in one process (calls on each other's
//! handles, with faults a test can inject) or over gRPC (see
//! [`super::peer`]). Both carry openraft's RPCs and the requests a
//! follower sends its leader.

// openraft's RaftNetwork trait fixes the (large) error type.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use parking_lot::RwLock;

use super::forward::{ForwardError, PeerReply, PeerRequest};
use super::peer::{GrpcPeers, RaftRpc};
use super::{Member, TypeConfig};

/// The longest pause before retrying an unreachable peer.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The network of one member.
#[derive(Clone)]
pub(crate) enum Network {
    InProcess(Router),
    Grpc(GrpcPeers),
}

impl Network {
    /// Sends `request` to member `target` and returns its answer.
    pub(crate) async fn ask(
        &self,
        from: u64,
        target: u64,
        request: PeerRequest,
    ) -> Result<PeerReply, ForwardError> {
        match self {
            Network::InProcess(router) => {
                let member = router.reach(from, target).await.map_err(ForwardError::NotSent)?;
                Ok(member.answer(request).await?)
            }
            Network::Grpc(peers) => peers.ask(target, request).await,
        }
    }
}

/// The members of an in-process cluster, by ID, and the faults injected
/// into the messages between them.
#[derive(Clone, Default)]
pub(crate) struct Router {
    pub(crate) members: Arc<RwLock<HashMap<u64, Arc<Member>>>>,
    faults: Arc<RwLock<Faults>>,
}

#[derive(Default)]
struct Faults {
    /// Members cut off from every other member.
    isolated: HashSet<u64>,
    /// Added to every message's delivery.
    delay: Duration,
    /// The probability (0.0–1.0) that a message is dropped.
    drop_rate: f64,
}

/// Faults to inject into the in-process network of
/// [`RaftStore::in_process`](super::RaftStore::in_process) members, for
/// tests: cut a member off, delay or drop messages. A dropped or cut-off
/// message fails as an unreachable peer would.
#[derive(Clone)]
pub struct NetworkFaults {
    router: Router,
}

impl NetworkFaults {
    pub(crate) fn new(router: Router) -> Self {
        NetworkFaults { router }
    }

    /// Cuts member `id` off from every other member (both directions)
    /// until [`heal`](Self::heal).
    pub fn isolate(&self, id: u64) {
        self.router.faults.write().isolated.insert(id);
    }

    /// Delays every message by `delay` (zero: no delay).
    pub fn set_delay(&self, delay: Duration) {
        self.router.faults.write().delay = delay;
    }

    /// Drops each message with probability `rate` (clamped to 0.0–1.0).
    pub fn set_drop_rate(&self, rate: f64) {
        self.router.faults.write().drop_rate = rate.clamp(0.0, 1.0);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        *self.router.faults.write() = Faults::default();
    }
}

impl Router {
    /// Member `target`, as `from` reaches it through the faults.
    async fn reach(&self, from: u64, target: u64) -> Result<Arc<Member>, String> {
        let (cut, delay, dropped) = {
            let f = self.faults.read();
            let cut = f.isolated.contains(&from) || f.isolated.contains(&target);
            (cut, f.delay, f.drop_rate > 0.0 && fastrand::f64() < f.drop_rate)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if cut || dropped {
            return Err(format!("message from member {from} to member {target} dropped"));
        }
        self.members
            .read()
            .get(&target)
            .cloned()
            .ok_or_else(|| format!("member {target} is not in this process"))
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection {
        if let Network::Grpc(peers) = self {
            peers.learn(target, &node.addr);
        }
        Connection { network: self.clone(), target }
    }
}

pub(crate) struct Connection {
    network: Network,
    target: u64,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

fn unreachable<E: std::error::Error>(why: String) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
    RPCError::Unreachable(Unreachable::new(&AnyError::error(why)))
}

impl Connection {
    /// The target's Raft handle in this process, through the faults.
    async fn local<E: std::error::Error>(
        &self,
        router: &Router,
        from: u64,
    ) -> RpcResult<openraft::Raft<TypeConfig>, E> {
        router.reach(from, self.target).await.map(|m| m.raft.clone()).map_err(unreachable)
    }

    fn remote<T, E: std::error::Error>(
        &self,
        answer: Result<Result<T, RaftError<u64, E>>, String>,
    ) -> RpcResult<T, E> {
        match answer {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Err(why) => Err(unreachable(why)),
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    /// After a peer could not be reached: retry after 50 ms, doubling up
    /// to 500 ms (openraft's constant 500 ms would leave a follower behind
    /// for half a second after one lost message).
    fn backoff(&self) -> openraft::network::Backoff {
        let pauses = (0..).map(|i: u32| Duration::from_millis(50u64 << i.min(4)).min(MAX_BACKOFF));
        openraft::network::Backoff::new(pauses)
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        match &self.network {
            Network::InProcess(router) => {
                let from = rpc.vote.leader_id().voted_for().unwrap_or_default();
                let raft = self.local(router, from).await?;
                self.remote(Ok(raft.append_entries(rpc).await))
            }
            Network::Grpc(peers) => {
                let answer =
                    peers.raft_rpc(self.target, RaftRpc::AppendEntries, &rpc, option).await;
                self.remote(answer)
            }
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        match &self.network {
            Network::InProcess(router) => {
                let from = rpc.vote.leader_id().voted_for().unwrap_or_default();
                let raft = self.local(router, from).await?;
                self.remote(Ok(raft.install_snapshot(rpc).await))
            }
            Network::Grpc(peers) => {
                let answer =
                    peers.raft_rpc(self.target, RaftRpc::InstallSnapshot, &rpc, option).await;
                self.remote(answer)
            }
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        match &self.network {
            Network::InProcess(router) => {
                let from = rpc.vote.leader_id().voted_for().unwrap_or_default();
                let raft = self.local(router, from).await?;
                self.remote(Ok(raft.vote(rpc).await))
            }
            Network::Grpc(peers) => {
                let answer = peers.raft_rpc(self.target, RaftRpc::Vote, &rpc, option).await;
                self.remote(answer)
            }
        }
    }
}
