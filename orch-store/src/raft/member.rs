//! A member in its own process: etcd's member flags, and the start-up that
//! joins it to its peers over gRPC.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::BasicNode;
use orch_core::{Error, Result};

use super::forward::{ForwardError, PeerReply, PeerRequest};
use super::identity::Identity;
use super::log_store::LogStore;
use super::network::Network;
use super::peer::{self, GrpcPeers};
use super::{unavailable, Member, RaftOptions, RaftStore};
use crate::etcd_api::name_id;
use crate::MemberInfo;

/// How one member in its own process is configured — etcd's flags of the
/// same names.
#[derive(Clone, Debug)]
pub struct MemberConfig {
    /// This member's name (`--name`); it must appear in `initial_cluster`.
    /// Its Raft (and etcd) member ID is derived from its peer address.
    pub name: String,
    /// Every member's name and peer address, `host:port`
    /// (`--initial-cluster m1=127.0.0.1:2380,…`). Every member must be
    /// given the same list.
    pub initial_cluster: Vec<(String, String)>,
    /// Where to accept peers' connections (`--listen-peer-urls`); by
    /// default this member's address in `initial_cluster`.
    pub listen_peer: Option<SocketAddr>,
    /// The URLs clients reach this member on, for `MemberList`
    /// (`--advertise-client-urls`).
    pub client_urls: Vec<String>,
    /// Where the log, vote, snapshot and identity are kept (`--data-dir`).
    pub data_dir: PathBuf,
    /// Snapshot and log compaction settings.
    pub options: RaftOptions,
    /// `false` (etcd's `--initial-cluster-state new`): the members of
    /// `initial_cluster` bootstrap a cluster together. `true` (`existing`):
    /// this member was added to a running cluster (etcd `member add`, or
    /// [`RaftStore::add_member`]) and joins it; `initial_cluster` lists
    /// the cluster's members, this one included.
    pub join_existing: bool,
}

/// `host:port` from a peer URL (`http://host:port`, or `host:port`).
pub(crate) fn peer_addr(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

impl MemberConfig {
    /// Parses an `--initial-cluster` value: `name=host:port` pairs
    /// separated by commas; an `http://` prefix on an address is accepted
    /// and dropped.
    ///
    /// Errors: `InvalidRequest` for an empty list, a pair without `=`, an
    /// empty name or address, or a name given twice.
    pub fn parse_initial_cluster(spec: &str) -> Result<Vec<(String, String)>> {
        let mut members: Vec<(String, String)> = Vec::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, addr) = pair.split_once('=').ok_or_else(|| {
                Error::InvalidRequest(format!("initial cluster: {pair:?} is not name=host:port"))
            })?;
            let addr = peer_addr(addr);
            let addr = addr.as_str();
            if name.is_empty() || addr.is_empty() {
                return Err(Error::InvalidRequest(format!(
                    "initial cluster: {pair:?} needs a name and an address"
                )));
            }
            if members.iter().any(|(n, _)| n == name) {
                return Err(Error::InvalidRequest(format!(
                    "initial cluster: member {name:?} is listed twice"
                )));
            }
            members.push((name.to_string(), addr.to_string()));
        }
        if members.is_empty() {
            return Err(Error::InvalidRequest("initial cluster: no members".into()));
        }
        Ok(members)
    }

    /// The ID of every member, by name: derived from its peer address
    /// (FNV-1a), as etcd derives member IDs from peer URLs — so that a
    /// member added by address alone (`member add --peer-urls`) has the ID
    /// it will give itself.
    pub fn member_ids(&self) -> Vec<(String, u64)> {
        self.initial_cluster.iter().map(|(n, a)| (n.clone(), name_id(a))).collect()
    }
}

impl RaftStore {
    /// Prepares an empty `data_dir` for a member of a new cluster restored
    /// from `backup` (a file `etcdctl snapshot save` wrote from a member's
    /// `Maintenance.Snapshot`, whose SHA-256 is checked, or what
    /// [`MemStore::backup`](crate::MemStore::backup) produced):
    /// every member of the new cluster is prepared from the same backup,
    /// then started with [`start_member`](Self::start_member). As etcd's
    /// `snapshot restore`, the restored cluster has the backup's keys,
    /// revisions and leases, and new member identities.
    ///
    /// Errors: `InvalidRequest` if `backup` is not a valid image (or its
    /// checksum does not match) or
    /// `data_dir` already holds a member; `Unavailable` if it cannot be
    /// written.
    pub fn restore_backup(backup: &[u8], data_dir: &std::path::Path) -> Result<()> {
        if data_dir.join("identity").exists() || data_dir.join("raft").exists() {
            return Err(Error::InvalidRequest(format!(
                "{} already holds a member; restore into a new data dir",
                data_dir.display()
            )));
        }
        super::state_machine::seed(&data_dir.join("raft"), backup)
    }

    /// Starts this process's member of a cluster whose members talk gRPC
    /// (the `raftpeerpb.RaftPeer` service) on their peer addresses. A
    /// member started on an empty `data_dir` bootstraps the cluster in
    /// `initial_cluster` with the others (as etcd's
    /// `--initial-cluster-state new`); on a data dir from an earlier run,
    /// it recovers its log and rejoins. Returns once the member runs —
    /// it need not have a leader yet (see [`wait_for_leader`](Self::wait_for_leader)).
    ///
    /// A member whose data dir was lost is refused: its peers recorded the
    /// incarnation it had, and a fresh data dir has a new one.
    ///
    /// Errors: `InvalidRequest` if `name` is not in `initial_cluster`;
    /// `Unavailable` if the data dir cannot be opened, the peer address
    /// cannot be bound, or a peer refuses this member (it lost its state).
    pub async fn start_member(config: MemberConfig) -> Result<RaftStore> {
        let own_addr = config
            .initial_cluster
            .iter()
            .find(|(n, _)| *n == config.name)
            .map(|(_, a)| a.clone())
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "member {:?} is not in the initial cluster",
                    config.name
                ))
            })?;
        let me = name_id(&own_addr);
        let listen = match config.listen_peer {
            Some(a) => a,
            None => own_addr
                .parse()
                .map_err(|e| Error::InvalidRequest(format!("peer address {own_addr:?}: {e}")))?,
        };
        let dir = &config.data_dir;
        let identity = Arc::new(
            Identity::open(dir)
                .map_err(|e| unavailable(format!("data dir {}: {e}", dir.display())))?,
        );
        let raft_dir = dir.join("raft");
        let log = LogStore::open(&raft_dir)
            .map_err(|e| unavailable(format!("log in {}: {e}", dir.display())))?;
        let addrs: HashMap<u64, String> =
            config.initial_cluster.iter().map(|(_, a)| (name_id(a), a.clone())).collect();
        let network = Network::Grpc(GrpcPeers::new(me, identity.clone(), addrs.clone()));
        let mut spec: Vec<String> =
            config.initial_cluster.iter().map(|(n, a)| format!("{n}={a}")).collect();
        spec.sort();
        let mut cluster_id = name_id(&spec.join(","));
        if identity.fresh || config.join_existing {
            // One round of the peers, before anything starts: a peer that
            // knew this member under another incarnation refuses it (it lost
            // its state: say so rather than run unable to take part), and a
            // member joining a running cluster takes the ID its members
            // already report.
            let mut learned = false;
            for &peer in addrs.keys().filter(|&&id| id != me) {
                match network.ask(me, peer, PeerRequest::Identify).await {
                    Err(ForwardError::Refused(why)) if identity.fresh => {
                        identity.forget();
                        return Err(unavailable(format!(
                            "member {:?} was refused by a peer: {why}",
                            config.name
                        )));
                    }
                    Ok(PeerReply::Identity { cluster_id: id, .. })
                        if config.join_existing && !learned =>
                    {
                        cluster_id = id;
                        learned = true;
                    }
                    _ => {}
                }
            }
        }
        // Bound only now: a peer asking this member while it asked its peers
        // above is refused at once rather than left waiting on the backlog.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| unavailable(format!("binding the peer address {listen}: {e}")))?;
        let info = MemberInfo {
            cluster_id,
            member_id: me,
            name: config.name.clone(),
            peer_urls: vec![format!("http://{own_addr}")],
            client_urls: config.client_urls.clone(),
        };
        let member =
            Member::start(info, network.clone(), log, Some(&raft_dir), config.options).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        *member.peer_server.lock() = Some(stop);
        tokio::spawn(peer::serve(member.clone(), identity.clone(), listener, stopped));
        let store = RaftStore { member };
        if config.join_existing {
            // The leader adds this member to the log; it must not start a
            // log of its own.
            return Ok(store);
        }
        let nodes: BTreeMap<u64, BasicNode> =
            addrs.iter().map(|(&id, addr)| (id, BasicNode::new(addr))).collect();
        store.member.initialize(nodes).await?;
        Ok(store)
    }
}
