//! The state machine: a [`MemStore`] (with its own lease expiry off) that
//! every member applies the log to, in order — so every member has the same
//! keys at the same revisions, and serves watches from its own copy.
//!
//! Snapshots are images of that store (see `crate::image`), followed by
//! the raised alarms (see `alarm.rs`), captured between two applies; a
//! durable member keeps its last one in `<data dir>/snapshot` and starts
//! from it, applying the log after it.

use std::fs::File;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use orch_core::store::{DeleteRangeResponse, LeaseGrant, PutResponse, Store, TxnResponse};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::alarm::{AlarmSet, SharedAlarms};
use super::command::{Command, Op};
use super::quota::{refused, unwrap_quota};
use super::store_error::StoreError;
use super::TypeConfig;
use crate::MemStore;

/// What applying one write produced — handed back to the member that
/// proposed it (over the network when that is a follower), hence
/// serializable, with the store's errors as [`StoreError`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Applied {
    Put(Result<PutResponse, StoreError>),
    DeleteRange(Result<DeleteRangeResponse, StoreError>),
    Txn(Result<TxnResponse, StoreError>),
    LeaseGrant(Result<LeaseGrant, StoreError>),
    Done(Result<(), StoreError>),
    /// An alarm change: the alarm, if it changed.
    Alarm(Result<Option<crate::AlarmMember>, StoreError>),
}

/// A snapshot: its meta and the store image (and alarms) it holds.
#[derive(Clone)]
pub(crate) struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

/// The file a durable member keeps its last snapshot in (`<dir>/snapshot`):
/// the meta (`None` for an image seeded by a restore, which is the base
/// the log is applied on) and the image.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: Option<SnapshotMeta<u64, BasicNode>>,
    image: Vec<u8>,
}

const SNAPSHOT_FILE: &str = "snapshot";

pub(crate) struct StateMachine {
    pub(crate) store: MemStore,
    /// The raised alarms, which the member reads too.
    pub(crate) alarms: SharedAlarms,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    /// Where the last snapshot is kept, for a durable member.
    dir: Option<PathBuf>,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    /// The image captured for the snapshot being built.
    capture: Option<Capture>,
}

/// A store image (not yet encoded) and the alarms, with the log ID and
/// membership they reflect.
type Capture =
    (crate::image::Image, AlarmSet, Option<LogId<u64>>, StoredMembership<u64, BasicNode>);

fn storage_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageIOError::write_snapshot(None, AnyError::error(e.to_string())).into()
}

/// Writes `file` to `<dir>/snapshot` atomically (write, fsync, rename).
fn save(dir: &Path, file: &SnapshotFile) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(file).map_err(std::io::Error::other)?;
    let tmp = dir.join("snapshot.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
    File::open(dir)?.sync_all()
}

/// Seeds an empty data dir with a backup: the image every member of a
/// restored cluster starts from, before its log.
pub(crate) fn seed(dir: &Path, backup: &[u8]) -> orch_core::Result<()> {
    let backup = crate::image::from_backup_file(backup)?.to_vec();
    crate::image::Image::decode(&backup)?;
    std::fs::create_dir_all(dir)
        .and_then(|()| save(dir, &SnapshotFile { meta: None, image: backup }))
        .map_err(|e| orch_core::Error::Unavailable(format!("seeding {}: {e}", dir.display())))
}

impl StateMachine {
    /// A state machine over `store` and `alarms`; for a durable member
    /// (`dir`), loaded from the snapshot kept there, if any.
    pub(crate) fn open(
        store: MemStore,
        alarms: SharedAlarms,
        dir: Option<&Path>,
    ) -> std::io::Result<Self> {
        let mut sm = StateMachine {
            store,
            alarms,
            last_applied: None,
            membership: StoredMembership::default(),
            dir: dir.map(Path::to_path_buf),
            current: Arc::default(),
            capture: None,
        };
        let Some(dir) = dir else { return Ok(sm) };
        let bytes = match std::fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(sm),
            Err(e) => return Err(e),
        };
        let file: SnapshotFile = postcard::from_bytes(&bytes).map_err(std::io::Error::other)?;
        sm.restore(&file.image).map_err(std::io::Error::other)?;
        if let Some(meta) = file.meta {
            sm.last_applied = meta.last_log_id;
            sm.membership = meta.last_membership.clone();
            *sm.current.lock() = Some(StoredSnapshot { meta, data: file.image });
        }
        Ok(sm)
    }

    /// Replaces the store and the alarms with a snapshot's.
    fn restore(&self, data: &[u8]) -> orch_core::Result<()> {
        let alarms = AlarmSet::read_from(data)?;
        self.store.restore(data)?;
        *self.alarms.lock() = alarms;
        Ok(())
    }

    /// Applies one write `member` proposed: refused with `NoSpace` if it
    /// does not fit (see `quota.rs`).
    async fn run(&self, member: u64, op: Op) -> Applied {
        let (quota, op) = unwrap_quota(op);
        if let Err(e) = self.admit(member, quota, &op) {
            return refused(&op, e);
        }
        let s = &self.store;
        let e = StoreError::from;
        match op {
            Op::Put(p) => Applied::Put(s.put(p).await.map_err(e)),
            Op::DeleteRange(d) => Applied::DeleteRange(s.delete_range(d).await.map_err(e)),
            Op::Txn(t) => Applied::Txn(s.txn(t).await.map_err(e)),
            Op::LeaseGrant { id, ttl_seconds } => {
                Applied::LeaseGrant(s.lease_grant(ttl_seconds, id).await.map_err(e))
            }
            Op::LeaseRevoke { id } => Applied::Done(s.lease_revoke(id).await.map_err(e)),
            Op::Compact { revision } => Applied::Done(s.compact(revision).await.map_err(e)),
            Op::Alarm { activate, alarm } => self.apply_alarm(activate, alarm),
            // unwrap_quota took every wrapper off.
            Op::WithinQuota { .. } => Applied::Done(Ok(())),
        }
    }

    async fn apply_command(&self, cmd: Command) -> Vec<Applied> {
        let mut out = Vec::with_capacity(cmd.ops.len());
        for op in cmd.ops {
            out.push(self.run(cmd.member, op).await);
        }
        out
    }
}

// openraft's storage traits fix the (large) error type.
#[allow(clippy::result_large_err)]
impl StateMachine {
    /// Makes `snapshot` the current one, keeping it on disk first for a
    /// durable member.
    fn keep(&self, snapshot: StoredSnapshot) -> std::result::Result<(), StorageError<u64>> {
        if let Some(dir) = &self.dir {
            let file =
                SnapshotFile { meta: Some(snapshot.meta.clone()), image: snapshot.data.clone() };
            save(dir, &file).map_err(storage_err)?;
        }
        *self.current.lock() = Some(snapshot);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    /// Encodes the captured image and keeps it, on a blocking thread (both
    /// take time in proportion to the store).
    async fn build_snapshot(
        &mut self,
    ) -> std::result::Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let (image, alarms, last_log_id, last_membership) =
            self.capture.take().ok_or_else(|| storage_err("no image was captured"))?;
        let snapshot_id = match last_log_id {
            Some(l) => format!("{}-{}-{:x}", l.leader_id.term, l.index, fastrand::u32(..)),
            None => format!("0-0-{:x}", fastrand::u32(..)),
        };
        let meta = SnapshotMeta { last_log_id, last_membership, snapshot_id };
        let (dir, file_meta) = (self.dir.clone(), meta.clone());
        let data = tokio::task::spawn_blocking(move || {
            let data =
                image.encode().and_then(|i| alarms.append_to(i)).map_err(|e| e.to_string())?;
            if let Some(dir) = dir {
                let file = SnapshotFile { meta: Some(file_meta), image: data.clone() };
                save(&dir, &file).map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(data)
        })
        .await
        .map_err(storage_err)?
        .map_err(storage_err)?;
        *self.current.lock() = Some(StoredSnapshot { meta: meta.clone(), data: data.clone() });
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<
        (Option<LogId<u64>>, StoredMembership<u64, openraft::BasicNode>),
        StorageError<u64>,
    > {
        Ok((self.last_applied, self.membership.clone()))
    }

    /// Applies entries in order; each entry's result is what its writes
    /// produced, for the leader to hand to whoever proposed them.
    async fn apply<I>(
        &mut self,
        entries: I,
    ) -> std::result::Result<Vec<Vec<Applied>>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            out.push(match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(cmd) => self.apply_command(cmd).await,
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    Vec::new()
                }
            });
        }
        Ok(out)
    }

    /// Captures the image now, between two applies, so that it matches
    /// the last applied log ID (a copy that shares the values); the
    /// builder encodes and keeps it.
    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let alarms = self.alarms.lock().clone();
        let capture =
            Some((self.store.image(), alarms, self.last_applied, self.membership.clone()));
        StateMachine {
            store: self.store.clone(),
            alarms: self.alarms.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            dir: self.dir.clone(),
            current: self.current.clone(),
            capture,
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    /// Replaces the store and the alarms with the leader's snapshot.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError<u64>> {
        let data = snapshot.into_inner();
        self.restore(&data).map_err(storage_err)?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.keep(StoredSnapshot { meta: meta.clone(), data })
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        Ok(self
            .current
            .lock()
            .clone()
            .map(|s| Snapshot { meta: s.meta, snapshot: Box::new(Cursor::new(s.data)) }))
    }
}
