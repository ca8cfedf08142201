//! [`EtcdApiServer`]: serves any [`Store`] over etcd v3's gRPC API, so that
//! etcd's own clients (`etcdctl`, `etcd-client`, clientv3) work against it.
//!
//! Services and methods served (etcd's `etcdserverpb` package, field numbers
//! and error texts):
//!
//! * `KV`: Range (with `revision`, `limit`, `keys_only`, `count_only`, sort
//!   and the min/max revision filters), Put, DeleteRange, Txn, Compact.
//! * `Watch`: create (with `start_revision`, `prev_kv`, `progress_notify`,
//!   filters, a client-chosen `watch_id`), cancel, progress requests.
//! * `Lease`: LeaseGrant, LeaseRevoke, LeaseKeepAlive, LeaseTimeToLive,
//!   LeaseLeases.
//! * `Cluster`: MemberList. `Maintenance`: Status, Snapshot (when the
//!   server has a [`Backup`]: the store's image in 64 KiB chunks, each
//!   with the bytes still to come, as etcd streams its database), Alarm
//!   (GET, ACTIVATE, DEACTIVATE of NOSPACE, when the server has
//!   [`Alarms`]: `etcdctl alarm list` and `alarm disarm`; `Status` then
//!   reports the database size and lists the alarms in `errors`). A
//!   store out of space answers puts, txns with puts and lease grants
//!   with etcd's `ResourceExhausted` "etcdserver: mvcc: database space
//!   exceeded".
//!
//! * `Cluster`: MemberAdd and MemberRemove when the store's
//!   [`ClusterView`] supports member changes (RaftStore does).
//!
//! Not served: nested Txn operations, auth, the CORRUPT alarm, defragment, hashes,
//! learners (those answer `Unimplemented` or `InvalidArgument`).
//!
//! ```no_run
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use orch_store::{EtcdApiServer, MemStore, MemberInfo};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2379").await?;
//! let member = MemberInfo::standalone("m1", listener.local_addr()?);
//! EtcdApiServer::new(Arc::new(MemStore::new()), member)
//!     .serve(listener, std::future::pending())
//!     .await?;
//! # Ok(()) }
//! ```

mod cluster;
mod convert;
mod kv;
mod lease;
mod maintenance;
mod watch;

#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use orch_core::store::Store;
use orch_core::{Error, Result};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use proto::cluster_server::ClusterServer;
use proto::kv_server::KvServer;
use proto::lease_server::LeaseServer;
use proto::maintenance_server::MaintenanceServer;
use proto::watch_server::WatchServer;

pub use maintenance::{AlarmMember, AlarmType, Alarms};

/// Who this server is, as its responses' headers and `MemberList` say
/// (etcd's `ResponseHeader.cluster_id`/`member_id`, `Member`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// The cluster ID in every response header.
    pub cluster_id: u64,
    /// This member's ID in every response header.
    pub member_id: u64,
    /// This member's name (etcd `--name`).
    pub name: String,
    /// URLs peers reach this member on (`http://host:port`); empty for a
    /// store that is not replicated.
    pub peer_urls: Vec<String>,
    /// URLs clients reach this member on (`http://host:port`).
    pub client_urls: Vec<String>,
}

impl MemberInfo {
    /// A single, unreplicated member named `name` serving clients on
    /// `client_addr`. Its member and cluster IDs are derived from the name.
    pub fn standalone(name: &str, client_addr: SocketAddr) -> Self {
        let member_id = name_id(name);
        MemberInfo {
            cluster_id: member_id ^ 0x6f72_6368_0000_0000, // "orch"
            member_id,
            name: name.to_string(),
            peer_urls: Vec::new(),
            client_urls: vec![format!("http://{client_addr}")],
        }
    }
}

/// A stable, non-zero 64-bit ID for a name (FNV-1a).
pub(crate) fn name_id(name: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(name.as_bytes());
    h.finish().max(1)
}

/// A member's Raft status, as etcd's `StatusResponse` and response headers
/// report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftStatus {
    /// The current Raft term (`raft_term`).
    pub term: u64,
    /// The leader's member ID, 0 if none is known (`leader`).
    pub leader: u64,
    /// The index of this member's last log entry (`raftIndex`).
    pub raft_index: u64,
    /// The index of the last entry this member applied (`raftAppliedIndex`).
    pub applied_index: u64,
}

/// What a replicated store tells the etcd API about its cluster: the
/// members for `MemberList`, and the Raft status for `Status` and the
/// `raft_term` of every response header. A store without one is served as
/// a single member that leads itself, with Raft fields 0.
#[async_trait::async_trait]
pub trait ClusterView: Send + Sync {
    /// Every member of the cluster (etcd `MemberList`); a member that
    /// cannot be asked has an empty name and no client URLs, as etcd lists
    /// an unstarted member.
    async fn members(&self) -> Vec<MemberInfo>;

    /// This member's Raft status now.
    fn raft_status(&self) -> RaftStatus;

    /// Adds a member reachable on `peer_urls` (etcd `MemberAdd`); returns
    /// it (without a name: it has not started yet). The new member is then
    /// started to join the existing cluster.
    ///
    /// Errors: `InvalidRequest` by default (the store does not support
    /// member changes) or for unusable URLs; `Unavailable` if the change
    /// cannot be made.
    async fn add_member(&self, peer_urls: &[String]) -> Result<MemberInfo> {
        let _ = peer_urls;
        Err(Error::InvalidRequest("this store does not support member changes".into()))
    }

    /// Removes member `id` (etcd `MemberRemove`).
    ///
    /// Errors: as `add_member`; `InvalidRequest` for an unknown member.
    async fn remove_member(&self, id: u64) -> Result<()> {
        let _ = id;
        Err(Error::InvalidRequest("this store does not support member changes".into()))
    }
}

/// A store that can produce a point-in-time backup of itself, for etcd's
/// `Maintenance.Snapshot` (`etcdctl snapshot save`).
#[async_trait::async_trait]
pub trait Backup: Send + Sync {
    /// The whole store as of now, as bytes a restore reads back (for orch's
    /// stores, the image format of [`MemStore::backup`](crate::MemStore::backup)).
    ///
    /// Errors: whatever prevents a consistent read of the store.
    async fn backup(&self) -> Result<Vec<u8>>;
}

#[async_trait::async_trait]
impl Backup for crate::MemStore {
    async fn backup(&self) -> Result<Vec<u8>> {
        crate::MemStore::backup(self)
    }
}

/// Serves a [`Store`] over etcd v3's gRPC API (see the module docs for
/// what is served).
pub struct EtcdApiServer {
    api: Api,
    /// Tells the streams (watches, lease keep-alives) that the server is
    /// stopping.
    stop: tokio::sync::watch::Sender<bool>,
}

/// The state every service shares.
#[derive(Clone)]
struct Api {
    store: Arc<dyn Store>,
    member: Arc<MemberInfo>,
    cluster: Option<Arc<dyn ClusterView>>,
    backup: Option<Arc<dyn Backup>>,
    alarms: Option<Arc<dyn Alarms>>,
    /// Becomes true when the server stops: long-lived streams end then.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl EtcdApiServer {
    /// A server for `store`, answering as `member`, a single member.
    pub fn new(store: Arc<dyn Store>, member: MemberInfo) -> Self {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let api = Api {
            store,
            member: Arc::new(member),
            cluster: None,
            backup: None,
            alarms: None,
            stopping,
        };
        EtcdApiServer { api, stop }
    }

    /// Lists the members and reports the Raft status that `cluster` gives
    /// (for a replicated store such as `RaftStore`).
    pub fn with_cluster(mut self, cluster: Arc<dyn ClusterView>) -> Self {
        self.api.cluster = Some(cluster);
        self
    }

    /// Answers `Maintenance.Snapshot` with `backup`'s bytes (without one,
    /// Snapshot answers `Unimplemented`).
    pub fn with_backup(mut self, backup: Arc<dyn Backup>) -> Self {
        self.api.backup = Some(backup);
        self
    }

    /// Reports the database size and serves the Alarm RPC with `alarms`
    /// (for a store with a backend quota, such as `RaftStore`). Without
    /// one, `Status` reports a size of 0 and Alarm lists no alarms.
    pub fn with_alarms(mut self, alarms: Arc<dyn Alarms>) -> Self {
        self.api.alarms = Some(alarms);
        self
    }

    /// Serves on `listener` until `shutdown` completes, then stops
    /// accepting, ends the long-lived streams (watches and lease
    /// keep-alives, as a stopping etcd closes them), lets in-flight calls
    /// finish and returns.
    ///
    /// Errors: [`Error::Unavailable`] if the gRPC server fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<()> {
        let (api, stop) = (self.api, self.stop);
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        tonic::transport::Server::builder()
            .add_service(KvServer::new(api.clone()))
            .add_service(WatchServer::new(api.clone()))
            .add_service(LeaseServer::new(api.clone()))
            .add_service(ClusterServer::new(api.clone()))
            .add_service(MaintenanceServer::new(api))
            .serve_with_incoming_shutdown(nodelay(listener), shutdown)
            .await
            .map_err(|e| Error::Unavailable(format!("etcd API server: {e}")))
    }
}

/// The connections `listener` accepts, with TCP_NODELAY set — as etcd
/// (Go sets it by default): without it, small responses wait on Nagle and
/// the peer's delayed ACK (~40 ms).
pub(crate) fn nodelay(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::StreamExt::map(TcpListenerStream::new(listener), |conn| {
        if let Ok(c) = &conn {
            let _ = c.set_nodelay(true);
        }
        conn
    })
}

impl Api {
    /// etcd's response header for a store revision.
    fn header(&self, revision: i64) -> Option<proto::ResponseHeader> {
        Some(proto::ResponseHeader {
            cluster_id: self.member.cluster_id,
            member_id: self.member.member_id,
            revision,
            raft_term: self.raft_status().term,
        })
    }

    /// The Raft status: the cluster's, or a lone member's (leads itself).
    fn raft_status(&self) -> RaftStatus {
        match &self.cluster {
            Some(c) => c.raft_status(),
            None => RaftStatus { leader: self.member.member_id, ..Default::default() },
        }
    }

    /// Completes when the server stops (or is gone).
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping.clone();
        async move {
            let _ = stopping.wait_for(|s| *s).await;
        }
    }

    /// The store's current revision.
    async fn revision(&self) -> Result<i64> {
        use orch_core::store::{KeyRange, RangeRequest};
        let mut req = RangeRequest::new(KeyRange::key(&b"\0"[..]));
        req.count_only = true;
        Ok(self.store.range(req).await?.header.revision)
    }
}
