//! etcd's `Maintenance` service: Status, Snapshot, Alarm — and
//! [`Alarms`], what a store with a backend quota tells it (its database
//! size and its alarms).

use orch_core::Result;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use super::convert::status;
use super::proto::{self, maintenance_server::Maintenance};
use super::Api;

/// An alarm type, as etcd's `AlarmType` (orch raises only NOSPACE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AlarmType {
    /// `NOSPACE`: the member's database reached its backend quota (etcd's
    /// `--quota-backend-bytes`). While it is raised the cluster takes only
    /// reads, deletes, compaction, lease revocation and alarm changes;
    /// puts, txns with puts and lease grants fail with
    /// [`Error::NoSpace`](orch_core::Error::NoSpace).
    NoSpace,
}

impl std::fmt::Display for AlarmType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlarmType::NoSpace => f.write_str("NOSPACE"),
        }
    }
}

/// A raised alarm: the member that raised it and its type (etcd's
/// `AlarmMember`, which `etcdctl alarm list` prints).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlarmMember {
    /// The member's ID (as `MemberList` and response headers give it).
    pub member_id: u64,
    /// What the alarm is.
    pub alarm: AlarmType,
}

impl std::fmt::Display for AlarmMember {
    /// As etcd prints an `AlarmMember` (`etcdctl alarm list`, the errors
    /// of `Status`): `memberID:<decimal ID> alarm:NOSPACE`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memberID:{} alarm:{}", self.member_id, self.alarm)
    }
}

/// What a store with a backend quota tells etcd's `Maintenance` service:
/// its database size (`Status`' `dbSize`) and its alarms (the `Alarm`
/// RPC, `etcdctl alarm list` and `alarm disarm`). `RaftStore` is one; a
/// server without one reports a size of 0 and no alarms.
#[async_trait::async_trait]
pub trait Alarms: Send + Sync {
    /// This member's database size now, in bytes (`Status`' `dbSize` and
    /// `dbSizeInUse`; etcd's `etcd_mvcc_db_total_size_in_bytes`).
    fn db_size_bytes(&self) -> u64;

    /// The backend quota in bytes (`Status`' `dbSizeQuota`), `None` for
    /// no quota.
    fn quota_backend_bytes(&self) -> Option<u64>;

    /// Every raised alarm (etcd's Alarm GET), as of a linearizable read.
    ///
    /// Errors: whatever prevents a consistent read (`Unavailable`).
    async fn alarm_list(&self) -> Result<Vec<AlarmMember>>;

    /// Raises `alarm` (etcd's Alarm ACTIVATE), on every member.
    ///
    /// Errors: `Unavailable` if it cannot be replicated.
    async fn alarm_activate(&self, alarm: AlarmMember) -> Result<()>;

    /// Disarms `alarm` (etcd's Alarm DEACTIVATE, `etcdctl alarm disarm`);
    /// returns whether it was raised. As in etcd, a NOSPACE alarm
    /// disarmed while the database is still over its quota is raised again
    /// by the next write that would exceed it.
    ///
    /// Errors: `Unavailable` if it cannot be replicated.
    async fn alarm_disarm(&self, alarm: AlarmMember) -> Result<bool>;
}

/// The size of each chunk of a snapshot stream, in bytes.
const SNAPSHOT_CHUNK: usize = 64 * 1024;

fn to_proto(a: AlarmMember) -> proto::AlarmMember {
    let alarm = match a.alarm {
        AlarmType::NoSpace => proto::AlarmType::Nospace,
    };
    proto::AlarmMember { member_id: a.member_id, alarm: alarm as i32 }
}

impl Api {
    /// The alarms raised, as etcd's `Status` lists them in `errors`; none
    /// if they cannot be read.
    async fn alarm_errors(&self) -> Vec<String> {
        let Some(alarms) = &self.alarms else { return Vec::new() };
        match alarms.alarm_list().await {
            Ok(list) => list.iter().map(|a| format!("{a} ")).collect(),
            Err(e) => vec![format!("alarms: {e}")],
        }
    }
}

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
    /// member leads itself, with Raft fields 0); `dbSize`, `dbSizeInUse`
    /// and `dbSizeQuota` and the alarms in `errors` come from the store's
    /// [`Alarms`] (without one: 0 and none).
    async fn status(
        &self,
        _req: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let revision = self.revision().await.map_err(status)?;
        let raft = self.raft_status();
        let (db_size, quota) = match &self.alarms {
            Some(a) => (a.db_size_bytes(), a.quota_backend_bytes()),
            None => (0, None),
        };
        let db_size = i64::try_from(db_size).unwrap_or(i64::MAX);
        Ok(Response::new(proto::StatusResponse {
            header: self.header(revision),
            version: concat!("orch-", env!("CARGO_PKG_VERSION")).to_string(),
            db_size,
            db_size_in_use: db_size,
            db_size_quota: quota.map_or(0, |q| i64::try_from(q).unwrap_or(i64::MAX)),
            leader: raft.leader,
            raft_index: raft.raft_index,
            raft_term: raft.term,
            raft_applied_index: raft.applied_index,
            errors: self.alarm_errors().await,
            ..Default::default()
        }))
    }

    /// etcd's Alarm RPC: GET lists the raised alarms (of one type, or
    /// all for `NONE`), ACTIVATE raises one and answers it, DEACTIVATE
    /// disarms one and answers it if it was raised. A server without
    /// [`Alarms`] has none to list or disarm and raises none
    /// (`Unimplemented`); only NOSPACE is raised (`CORRUPT` is not:
    /// `Unimplemented`).
    async fn alarm(
        &self,
        req: Request<proto::AlarmRequest>,
    ) -> Result<Response<proto::AlarmResponse>, Status> {
        use proto::alarm_request::AlarmAction;
        let req = req.into_inner();
        let action = AlarmAction::try_from(req.action)
            .map_err(|_| Status::invalid_argument("etcdserver: unknown alarm action"))?;
        let alarm = match proto::AlarmType::try_from(req.alarm) {
            Ok(proto::AlarmType::None) => None,
            Ok(proto::AlarmType::Nospace) => Some(AlarmType::NoSpace),
            // None is ever raised: nothing to list or disarm.
            Ok(proto::AlarmType::Corrupt) if action != AlarmAction::Activate => {
                return self.empty_alarm_response().await;
            }
            Ok(proto::AlarmType::Corrupt) => {
                return Err(Status::unimplemented("etcdserver: the CORRUPT alarm is not raised"))
            }
            Err(_) => return Err(Status::invalid_argument("etcdserver: unknown alarm type")),
        };
        let alarms = match (&self.alarms, action) {
            (Some(store), AlarmAction::Get) => {
                let all = store.alarm_list().await.map_err(status)?;
                all.into_iter().filter(|a| alarm.is_none_or(|t| a.alarm == t)).collect()
            }
            (Some(store), AlarmAction::Activate) => {
                let Some(alarm) = alarm else { return self.empty_alarm_response().await };
                let raised = AlarmMember { member_id: req.member_id, alarm };
                store.alarm_activate(raised).await.map_err(status)?;
                vec![raised]
            }
            (Some(store), AlarmAction::Deactivate) => {
                let Some(alarm) = alarm else { return self.empty_alarm_response().await };
                let disarmed = AlarmMember { member_id: req.member_id, alarm };
                if store.alarm_disarm(disarmed).await.map_err(status)? {
                    vec![disarmed]
                } else {
                    Vec::new()
                }
            }
            (None, AlarmAction::Activate) => {
                return Err(Status::unimplemented("this server's store raises no alarms"))
            }
            (None, _) => Vec::new(),
        };
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::AlarmResponse {
            header: self.header(revision),
            alarms: alarms.into_iter().map(to_proto).collect(),
        }))
    }
}

impl Api {
    /// An Alarm answer with no alarms (etcd's, for an ACTIVATE or
    /// DEACTIVATE of type `NONE`).
    async fn empty_alarm_response(&self) -> Result<Response<proto::AlarmResponse>, Status> {
        let revision = self.revision().await.map_err(status)?;
        Ok(Response::new(proto::AlarmResponse {
            header: self.header(revision),
            alarms: Vec::new(),
        }))
    }
}
