//! The in-process network: members call each other's Raft handles
//! directly. (The gRPC network between processes comes next.)

use std::collections::HashMap;
use std::sync::Arc;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, Raft};
use parking_lot::RwLock;

use super::TypeConfig;

/// The members of an in-process cluster, by ID.
#[derive(Clone, Default)]
pub(crate) struct Router {
    pub(crate) members: Arc<RwLock<HashMap<u64, Raft<TypeConfig>>>>,
}

pub(crate) struct Connection {
    router: Router,
    target: u64,
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection { router: self.clone(), target }
    }
}

impl Connection {
    fn raft(&self) -> Option<Raft<TypeConfig>> {
        self.router.members.read().get(&self.target).cloned()
    }

    fn unreachable<E: std::error::Error>(&self) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
        RPCError::Unreachable(Unreachable::new(&AnyError::error(format!(
            "member {} is not in this process",
            self.target
        ))))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self.raft().ok_or_else(|| self.unreachable())?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        let raft = self.raft().ok_or_else(|| self.unreachable())?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self.raft().ok_or_else(|| self.unreachable())?;
        raft.vote(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}
