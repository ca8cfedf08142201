//! The gRPC network between members in different processes: the
//! `raftpeerpb.RaftPeer` service (tonic), carrying openraft's RPCs and
//! [`PeerRequest`]s postcard-encoded in an [`Envelope`](proto::Envelope)
//! that names the sender and its incarnation (see [`super::identity`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::network::RPCOption;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::forward::{ForwardError, PeerReply, PeerRequest};
use super::identity::Identity;
use super::{Member, TypeConfig};

#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/raftpeerpb.rs"));
}

use proto::raft_peer_client::RaftPeerClient;
use proto::raft_peer_server::{RaftPeer, RaftPeerServer};
use proto::Envelope;

/// How long a forwarded request may take (a write waits for replication
/// and fsync at the leader).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The peers of one member, by ID, with a lazily opened gRPC channel each.
#[derive(Clone)]
pub(crate) struct GrpcPeers {
    me: u64,
    identity: Arc<Identity>,
    /// Peer addresses by member ID: the initial cluster's, then those
    /// openraft hands over as the membership changes.
    addrs: Arc<parking_lot::RwLock<HashMap<u64, String>>>,
    channels: Arc<Mutex<HashMap<u64, Channel>>>,
}

/// Which of openraft's RPCs.
#[derive(Clone, Copy)]
pub(crate) enum RaftRpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

fn seal<T: Serialize>(me: u64, identity: &Identity, msg: &T) -> Result<Envelope, String> {
    let payload = postcard::to_stdvec(msg).map_err(|e| format!("encoding a message: {e}"))?;
    Ok(Envelope { from: me, incarnation: identity.incarnation, payload })
}

fn open<T: DeserializeOwned>(identity: &Identity, envelope: &Envelope) -> Result<T, String> {
    identity.check(envelope.from, envelope.incarnation)?;
    postcard::from_bytes(&envelope.payload)
        .map_err(|e| format!("decoding a message from member {:x}: {e}", envelope.from))
}

impl GrpcPeers {
    /// Peers at `addrs` (`host:port` by member ID), for member `me`.
    pub(crate) fn new(me: u64, identity: Arc<Identity>, addrs: HashMap<u64, String>) -> Self {
        GrpcPeers {
            me,
            identity,
            addrs: Arc::new(parking_lot::RwLock::new(addrs)),
            channels: Arc::default(),
        }
    }

    /// Records member `id`'s address (a member added to the cluster).
    pub(crate) fn learn(&self, id: u64, addr: &str) {
        let mut addrs = self.addrs.write();
        if addrs.get(&id).map(String::as_str) != Some(addr) {
            addrs.insert(id, addr.to_string());
            self.channels.lock().remove(&id);
        }
    }

    fn client(&self, target: u64) -> Result<RaftPeerClient<Channel>, String> {
        let mut channels = self.channels.lock();
        if let Some(c) = channels.get(&target) {
            return Ok(RaftPeerClient::new(c.clone()));
        }
        let addr = self.addrs.read().get(&target).cloned();
        let addr = addr.ok_or_else(|| format!("no address for member {target:x}"))?;
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("peer address {addr}: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(target, channel.clone());
        Ok(RaftPeerClient::new(channel))
    }

    /// Sends one of openraft's RPCs to `target` and decodes its answer;
    /// `Err` if the peer could not be reached (or refused this member).
    pub(crate) async fn raft_rpc<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        target: u64,
        rpc: RaftRpc,
        request: &Req,
        option: RPCOption,
    ) -> Result<Resp, String> {
        let envelope = seal(self.me, &self.identity, request)?;
        let mut client = self.client(target)?;
        let call = async move {
            match rpc {
                RaftRpc::AppendEntries => client.append_entries(envelope).await,
                RaftRpc::Vote => client.vote(envelope).await,
                RaftRpc::InstallSnapshot => client.install_snapshot(envelope).await,
            }
        };
        let reply = tokio::time::timeout(option.hard_ttl(), call)
            .await
            .map_err(|_| format!("member {target:x} did not answer in {:?}", option.hard_ttl()))?
            .map_err(|s| format!("member {target:x}: {}", s.message()))?;
        open(&self.identity, &reply.into_inner())
    }

    /// Sends a [`PeerRequest`] to `target` and returns its answer.
    pub(crate) async fn ask(
        &self,
        target: u64,
        request: PeerRequest,
    ) -> Result<PeerReply, ForwardError> {
        let envelope = seal(self.me, &self.identity, &request).map_err(ForwardError::Failed)?;
        let mut client = self.client(target).map_err(ForwardError::NotSent)?;
        let reply = tokio::time::timeout(FORWARD_TIMEOUT, client.ask(envelope))
            .await
            .map_err(|_| ForwardError::Unreachable(format!("member {target:x} timed out")))?
            .map_err(|s| {
                let why = format!("member {target:x}: {}", s.message());
                match s.code() {
                    tonic::Code::FailedPrecondition => ForwardError::Refused(why),
                    // No connection could be made: the request was not sent.
                    tonic::Code::Unavailable if never_connected(&s) => ForwardError::NotSent(why),
                    _ => ForwardError::Unreachable(why),
                }
            })?;
        open::<Result<PeerReply, ForwardError>>(&self.identity, &reply.into_inner())
            .map_err(ForwardError::Unreachable)?
    }
}

/// True if `status` says no connection to the peer could be opened (so
/// the request was never sent).
fn never_connected(status: &Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    let mut text = status.message().to_string();
    while let Some(e) = source {
        text.push_str(&e.to_string());
        source = e.source();
    }
    text.contains("connect")
}

/// The server side: answers peers on behalf of one member.
struct PeerService {
    member: Arc<Member>,
    identity: Arc<Identity>,
}

impl PeerService {
    fn open<T: DeserializeOwned>(&self, request: &Request<Envelope>) -> Result<T, Status> {
        open(&self.identity, request.get_ref()).map_err(|why| {
            tracing::warn!(%why, "refusing a peer's message");
            Status::failed_precondition(why)
        })
    }

    fn seal<T: Serialize>(&self, msg: &T) -> Result<Response<Envelope>, Status> {
        seal(self.member.id, &self.identity, msg).map(Response::new).map_err(Status::internal)
    }
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(
        &self,
        request: Request<Envelope>,
    ) -> Result<Response<Envelope>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = self.open(&request)?;
        self.seal(&self.member.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<Envelope>) -> Result<Response<Envelope>, Status> {
        let rpc: VoteRequest<u64> = self.open(&request)?;
        self.seal(&self.member.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<Envelope>,
    ) -> Result<Response<Envelope>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = self.open(&request)?;
        self.seal(&self.member.raft.install_snapshot(rpc).await)
    }

    async fn ask(&self, request: Request<Envelope>) -> Result<Response<Envelope>, Status> {
        let req: PeerRequest = self.open(&request)?;
        self.seal(&self.member.answer(req).await)
    }
}

/// Serves `member`'s peer service on `listener` until `shutdown` fires.
pub(crate) async fn serve(
    member: Arc<Member>,
    identity: Arc<Identity>,
    listener: tokio::net::TcpListener,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let service = RaftPeerServer::new(PeerService { member, identity })
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let served = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(crate::etcd_api::nodelay(listener), async {
            let _ = shutdown.await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the Raft peer server failed");
    }
}
