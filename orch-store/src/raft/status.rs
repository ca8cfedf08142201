//! What a member tells etcd's API about its cluster: its members (for
//! `MemberList`) and its Raft status (for `Status` and response headers).

use std::sync::Arc;
use std::time::Duration;

use crate::{Backup, ClusterView, EtcdApiServer, MemberInfo, RaftStatus};

use super::forward::{PeerReply, PeerRequest};
use super::RaftStore;

/// How long `MemberList` waits for a peer to say who it is.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(1);

impl RaftStore {
    /// This member as etcd's API describes it: its ID, name, peer URL and
    /// client URLs, and the cluster ID (derived from the initial cluster,
    /// as etcd derives it, so every member reports the same one).
    pub fn member_info(&self) -> MemberInfo {
        self.member.info.clone()
    }

    /// An etcd v3 API server for this member: its store, headers with its
    /// IDs and Raft term, `MemberList` of the whole cluster, `Snapshot`
    /// streaming a linearizable backup, `Status` with this member's
    /// database size and the cluster's alarms, and the `Alarm` RPC.
    pub fn etcd_api(&self) -> EtcdApiServer {
        EtcdApiServer::new(Arc::new(self.clone()), self.member_info())
            .with_cluster(Arc::new(self.clone()))
            .with_backup(Arc::new(self.clone()))
            .with_alarms(Arc::new(self.clone()))
    }
}

#[async_trait::async_trait]
impl ClusterView for RaftStore {
    async fn members(&self) -> Vec<MemberInfo> {
        let membership = self.member.raft.metrics().borrow().membership_config.clone();
        let cluster_id = self.member.info.cluster_id;
        let mut members = Vec::new();
        for (&id, node) in membership.nodes() {
            if id == self.member.id {
                members.push(self.member_info());
                continue;
            }
            let asked = self.member.network.ask(self.member.id, id, PeerRequest::Identify);
            let (name, client_urls) = match tokio::time::timeout(IDENTIFY_TIMEOUT, asked).await {
                Ok(Ok(PeerReply::Identity { name, client_urls, .. })) => (name, client_urls),
                _ => (String::new(), Vec::new()),
            };
            members.push(MemberInfo {
                cluster_id,
                member_id: id,
                name,
                peer_urls: vec![format!("http://{}", node.addr)],
                client_urls,
            });
        }
        members
    }

    /// The member's ID is derived from its peer address, as a member
    /// started with [`start_member`](RaftStore::start_member) derives its
    /// own; it is added as a voter through joint consensus.
    async fn add_member(&self, peer_urls: &[String]) -> orch_core::Result<MemberInfo> {
        let [url] = peer_urls else {
            return Err(orch_core::Error::InvalidRequest(
                "a member needs exactly one peer URL".into(),
            ));
        };
        let addr = super::member::peer_addr(url);
        let id = self.add_member(&addr).await?;
        Ok(MemberInfo {
            cluster_id: self.member.info.cluster_id,
            member_id: id,
            name: String::new(),
            peer_urls: vec![format!("http://{addr}")],
            client_urls: Vec::new(),
        })
    }

    async fn remove_member(&self, id: u64) -> orch_core::Result<()> {
        RaftStore::remove_member(self, id).await
    }

    fn raft_status(&self) -> RaftStatus {
        let m = self.member.raft.metrics().borrow().clone();
        RaftStatus {
            term: m.current_term,
            leader: m.current_leader.unwrap_or(0),
            raft_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
        }
    }
}

/// A linearizable backup: this member's image once it has applied
/// everything committed when the backup was asked for.
#[async_trait::async_trait]
impl Backup for RaftStore {
    async fn backup(&self) -> orch_core::Result<Vec<u8>> {
        self.member.catch_up().await?;
        self.member.store.backup()
    }
}
