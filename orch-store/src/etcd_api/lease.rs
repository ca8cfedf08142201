//! etcd's `Lease` service: LeaseGrant, LeaseRevoke, LeaseKeepAlive,
//! LeaseTimeToLive, LeaseLeases.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use orch_core::Error;
use tonic::{Request, Response, Status, Streaming};

use super::convert::status;
use super::proto::{self, lease_server::Lease};
use super::Api;

type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<proto::LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Lease for Api {
    async fn lease_grant(
        &self,
        req: Request<proto::LeaseGrantRequest>,
    ) -> Result<Response<proto::LeaseGrantResponse>, Status> {
        let r = req.into_inner();
        let grant = self.store.lease_grant(r.ttl, r.id).await.map_err(status)?;
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::LeaseGrantResponse {
            header: self.header(revision),
            id: grant.id,
            ttl: grant.ttl_seconds,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        req: Request<proto::LeaseRevokeRequest>,
    ) -> Result<Response<proto::LeaseRevokeResponse>, Status> {
        self.store.lease_revoke(req.get_ref().id).await.map_err(status)?;
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::LeaseRevokeResponse { header: self.header(revision) }))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    /// One response per request, in order. A lease that does not exist
    /// answers with TTL 0, as etcd does (not with an error).
    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<proto::LeaseKeepAliveRequest>>,
    ) -> Result<Response<KeepAliveStream>, Status> {
        let api = self.clone();
        let responses = req.into_inner().then(move |r| {
            let api = api.clone();
            async move {
                let id = r?.id;
                let ttl = match api.store.lease_keep_alive(id).await {
                    Ok(ttl) => ttl,
                    Err(Error::LeaseNotFound(_)) => 0,
                    Err(e) => return Err(status(e)),
                };
                let revision = api.revision().await.map_err(status)?;
                Ok(proto::LeaseKeepAliveResponse { header: api.header(revision), id, ttl })
            }
        });
        Ok(Response::new(Box::pin(responses.take_until(self.stopped()))))
    }

    /// A lease that does not exist answers with TTL -1, as etcd does.
    async fn lease_time_to_live(
        &self,
        req: Request<proto::LeaseTimeToLiveRequest>,
    ) -> Result<Response<proto::LeaseTimeToLiveResponse>, Status> {
        let r = req.into_inner();
        let revision = self.revision().await.map_err(status)?;
        let resp = match self.store.lease_time_to_live(r.id, r.keys).await {
            Ok(t) => proto::LeaseTimeToLiveResponse {
                header: self.header(revision),
                id: t.id,
                ttl: t.ttl_seconds,
                granted_ttl: t.granted_ttl_seconds,
                keys: t.keys.into_iter().map(Vec::from).collect(),
            },
            Err(Error::LeaseNotFound(_)) => proto::LeaseTimeToLiveResponse {
                header: self.header(revision),
                id: r.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
            Err(e) => return Err(status(e)),
        };
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        _req: Request<proto::LeaseLeasesRequest>,
    ) -> Result<Response<proto::LeaseLeasesResponse>, Status> {
        let ids = self.store.leases().await.map_err(status)?;
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::LeaseLeasesResponse {
            header: self.header(revision),
            leases: ids.into_iter().map(|id| proto::LeaseStatus { id }).collect(),
        }))
    }
}
