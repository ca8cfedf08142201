//! etcd's `Cluster` service: MemberAdd, MemberRemove, MemberList.

use tonic::{Request, Response, Status};

use super::convert::status;
use super::proto::{self, cluster_server::Cluster};
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
