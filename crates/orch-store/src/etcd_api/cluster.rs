//! etcd's `Cluster` (MemberList) and `Maintenance` (Status) services.

use tonic::{Request, Response, Status};

use super::convert::status;
use super::proto::{self, cluster_server::Cluster, maintenance_server::Maintenance};
use super::Api;

impl Api {
    fn member(&self) -> proto::Member {
        proto::Member {
            id: self.member.member_id,
            name: self.member.name.clone(),
            peer_ur_ls: self.member.peer_urls.clone(),
            client_ur_ls: self.member.client_urls.clone(),
            is_learner: false,
        }
    }
}

#[tonic::async_trait]
impl Cluster for Api {
    async fn member_list(
        &self,
        _req: Request<proto::MemberListRequest>,
    ) -> Result<Response<proto::MemberListResponse>, Status> {
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::MemberListResponse {
            header: self.header(revision),
            members: vec![self.member()],
        }))
    }
}

#[tonic::async_trait]
impl Maintenance for Api {
    /// `version` is orch's; `leader` is this member (it is alone); the
    /// Raft fields are 0 and `db_size` is not measured (0).
    async fn status(
        &self,
        _req: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::StatusResponse {
            header: self.header(revision),
            version: concat!("orch-", env!("CARGO_PKG_VERSION")).to_string(),
            leader: self.member.member_id,
            ..Default::default()
        }))
    }
}
