//! etcd's `Cluster` (MemberList) and `Maintenance` (Status) services.

use tonic::{Request, Response, Status};

use super::convert::status;
use super::proto::{self, cluster_server::Cluster, maintenance_server::Maintenance};
use super::{Api, MemberInfo};

fn member(m: &MemberInfo) -> proto::Member {
    proto::Member {
        id: m.member_id,
        name: m.name.clone(),
        peer_ur_ls: m.peer_urls.clone(),
        client_ur_ls: m.client_urls.clone(),
        is_learner: false,
    }
}

impl Api {
    async fn members(&self) -> Vec<proto::Member> {
        match &self.cluster {
            Some(c) => c.members().await.iter().map(member).collect(),
            None => vec![member(&self.member)],
        }
    }

    fn cluster(&self) -> Result<&std::sync::Arc<dyn super::ClusterView>, Status> {
        self.cluster
            .as_ref()
            .ok_or_else(|| Status::unimplemented("this server's store is a single member"))
    }
}

#[tonic::async_trait]
impl Cluster for Api {
    async fn member_add(
        &self,
        req: Request<proto::MemberAddRequest>,
    ) -> Result<Response<proto::MemberAddResponse>, Status> {
        let req = req.into_inner();
        if req.is_learner {
            return Err(Status::unimplemented("learners are not supported"));
        }
        let added = self.cluster()?.add_member(&req.peer_ur_ls).await.map_err(status)?;
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::MemberAddResponse {
            header: self.header(revision),
            member: Some(member(&added)),
            members: self.members().await,
        }))
    }

    async fn member_remove(
        &self,
        req: Request<proto::MemberRemoveRequest>,
    ) -> Result<Response<proto::MemberRemoveResponse>, Status> {
        self.cluster()?.remove_member(req.into_inner().id).await.map_err(status)?;
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::MemberRemoveResponse {
            header: self.header(revision),
            members: self.members().await,
        }))
    }

    async fn member_list(
        &self,
        _req: Request<proto::MemberListRequest>,
    ) -> Result<Response<proto::MemberListResponse>, Status> {
        let revision = self.revision().await.map_err(status)?;
        let members = self.members().await;
        Ok(Response::new(proto::MemberListResponse { header: self.header(revision), members }))
    }
}

/// The size of each chunk of a snapshot stream, in bytes.
const SNAPSHOT_CHUNK: usize = 64 * 1024;

#[tonic::async_trait]
impl Maintenance for Api {
    type SnapshotStream =
        futures::stream::Iter<std::vec::IntoIter<Result<proto::SnapshotResponse, Status>>>;

    /// The store's backup (see [`Backup`](super::Backup)) as a backup file
    /// (padded to 512-byte pages, then their SHA-256, as etcd's — etcdctl
    /// checks that shape), in chunks; `Unimplemented` for a server without
    /// a backup.
    async fn snapshot(
        &self,
        _req: Request<proto::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let Some(backup) = &self.backup else {
            return Err(Status::unimplemented("this server's store has no backup"));
        };
        let bytes = crate::image::to_backup_file(backup.backup().await.map_err(status)?);
        let revision = self.revision().await.map_err(status)?;
        let mut left = bytes.len();
        let chunks: Vec<_> = bytes
            .chunks(SNAPSHOT_CHUNK)
            .map(|chunk| {
                left -= chunk.len();
                Ok(proto::SnapshotResponse {
                    header: self.header(revision),
                    remaining_bytes: left as u64,
                    blob: chunk.to_vec(),
                    version: String::new(),
                })
            })
            .collect();
        Ok(Response::new(futures::stream::iter(chunks)))
    }

    /// `version` is orch's; the Raft fields are the cluster's (a lone
    /// member leads itself, with Raft fields 0); `db_size` is not measured
    /// (0).
    async fn status(
        &self,
        _req: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let revision = self.revision().await.map_err(status)?;
        let raft = self.raft_status();
        Ok(Response::new(proto::StatusResponse {
            header: self.header(revision),
            version: concat!("orch-", env!("CARGO_PKG_VERSION")).to_string(),
            leader: raft.leader,
            raft_index: raft.raft_index,
            raft_term: raft.term,
            raft_applied_index: raft.applied_index,
            ..Default::default()
        }))
    }
}
