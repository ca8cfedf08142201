//! The Raft log, vote and committed index of one member: in memory, and —
//! when opened on a directory — in files there, fsynced before openraft is
//! told an append is durable.
//!
//! Files: `log`, a sequence of records `[u32 length, little-endian][entry,
//! postcard]`, written once per append call (openraft batches entries that
//! queue up into one append) and fsynced by a flusher thread — one fsync
//! for every append that queued up meanwhile — before openraft is told they
//! are durable;
//! a truncation cuts the file at the first dropped record; a purge (after a
//! snapshot) rewrites it without the purged records. `meta`, the
//! vote and purged log ID (and the committed one as of the last vote),
//! replaced atomically (write, fsync, rename). A torn last record (a crash mid-append) is cut off when the log
//! is opened: it was never acknowledged.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, RaftLogReader, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::TypeConfig;

#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct Meta {
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    last_purged: Option<LogId<u64>>,
}

/// The files of a durable log.
struct Files {
    dir: PathBuf,
    /// Shared with the flusher thread, which fsyncs it.
    log: Arc<File>,
    /// Hands appended writes to the flusher thread (see [`flush`]).
    flusher: std::sync::mpsc::Sender<Flush>,
    /// Where each entry's record starts in `log`, by log index.
    offsets: BTreeMap<u64, u64>,
    /// Where the records end (the next write goes here).
    len: u64,
    /// How far the file is allocated (zeros after `len`), so that an
    /// fsync after a write need not also record a new file size — as
    /// etcd's WAL preallocates its segments. `None` where the file system
    /// cannot preallocate.
    allocated: Option<u64>,
}

/// The log file grows by this much at a time, in bytes (etcd's WAL
/// segments are 64 MiB; a member here needs far less before a snapshot
/// lets the log be rewritten).
const PREALLOCATE: u64 = 16 << 20;

impl Files {
    /// Makes sure `extra` more bytes fit in the allocated part.
    fn reserve(&mut self, extra: u64) -> std::io::Result<()> {
        let Some(allocated) = self.allocated else { return Ok(()) };
        let end = self.len + extra;
        if end <= allocated {
            return Ok(());
        }
        let size = end.div_ceil(PREALLOCATE) * PREALLOCATE;
        let len = i64::try_from(size).map_err(std::io::Error::other)?;
        match nix::fcntl::fallocate(&*self.log, nix::fcntl::FallocateFlags::empty(), 0, len) {
            Ok(()) => self.allocated = Some(size),
            // Not supported here: let writes grow the file.
            Err(_) => self.allocated = None,
        }
        Ok(())
    }
}

#[derive(Default)]
struct Log {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    meta: Meta,
    files: Option<Files>,
}

/// A handle on one member's log; clones share it.
#[derive(Clone, Default)]
pub(crate) struct LogStore {
    log: Arc<Mutex<Log>>,
}

fn io_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageIOError::write_logs(AnyError::error(e.to_string())).into()
}

impl LogStore {
    /// A log kept in memory only.
    pub(crate) fn in_memory() -> Self {
        LogStore::default()
    }

    /// Opens (or creates) the durable log in `dir`, reading back what a
    /// previous run left there.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut meta: Meta = match std::fs::read(dir.join("meta")) {
            Ok(bytes) => postcard::from_bytes(&bytes).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(e),
        };
        // A restarted member does not resume as leader of its old term (as
        // etcd's members restart as followers): the committed index it
        // kept may be older than writes it acknowledged, so it must win an
        // election and commit a new term's first entry — which covers them
        // — before its ReadIndex answers are sound. The vote itself (term
        // and candidate) stays, so it never votes twice in a term.
        if let Some(vote) = &mut meta.vote {
            vote.committed = false;
        }
        let path = dir.join("log");
        let mut log =
            OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path)?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes)?;
        let (mut entries, mut offsets, mut at) = (BTreeMap::new(), BTreeMap::new(), 0usize);
        while at + 4 <= bytes.len() {
            let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
            let end = at + 4 + len as usize;
            if end > bytes.len() {
                break; // torn record
            }
            let Ok(entry) = postcard::from_bytes::<Entry<TypeConfig>>(&bytes[at + 4..end]) else {
                break;
            };
            // A later record for an index replaces the earlier (after a
            // truncation the file was cut, so this is only defensive).
            offsets.split_off(&entry.log_id.index);
            entries.split_off(&entry.log_id.index);
            offsets.insert(entry.log_id.index, at as u64);
            entries.insert(entry.log_id.index, entry);
            at = end;
        }
        // A torn last record, or the zeros of a preallocation: cut.
        if at < bytes.len() {
            log.set_len(at as u64)?;
            log.sync_all()?;
        }
        // Records a purge left behind (a crash before the rewrite).
        if let Some(purged) = meta.last_purged {
            entries = entries.split_off(&(purged.index + 1));
            offsets = offsets.split_off(&(purged.index + 1));
        }
        let (flusher, flushes) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("raft-log-flush".into()).spawn(move || flush(flushes))?;
        let files = Files {
            dir: dir.to_path_buf(),
            log: Arc::new(log),
            flusher,
            offsets,
            len: at as u64,
            allocated: Some(at as u64),
        };
        Ok(LogStore { log: Arc::new(Mutex::new(Log { entries, meta, files: Some(files) })) })
    }
}

/// Appended records waiting to be made durable, and who to tell.
struct Flush {
    file: Arc<File>,
    callback: LogFlushed<TypeConfig>,
}

/// The flusher thread: fsyncs the log for every append waiting, as few
/// times as it can — the appends that arrive while one fsync runs are made
/// durable by the next, together (group commit) — then tells openraft, in
/// order. It ends when the log is dropped.
fn flush(flushes: std::sync::mpsc::Receiver<Flush>) {
    while let Ok(first) = flushes.recv() {
        let mut batch = vec![first];
        batch.extend(flushes.try_iter());
        // A purge may have replaced the file: sync each one written to.
        let mut synced: Vec<&Arc<File>> = Vec::new();
        let mut outcome = Ok(());
        for f in &batch {
            if !synced.iter().any(|s| Arc::ptr_eq(s, &f.file)) {
                synced.push(&f.file);
                if let Err(e) = f.file.sync_data() {
                    outcome = Err(e);
                }
            }
        }
        for f in batch {
            let result = match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            f.callback.log_io_completed(result);
        }
    }
}

impl Log {
    /// Replaces the `log` file with the entries held now (write a new
    /// file, fsync, rename).
    fn rewrite(&mut self) -> std::io::Result<()> {
        let Some(files) = &mut self.files else { return Ok(()) };
        let (mut buf, mut offsets) = (Vec::new(), BTreeMap::new());
        for (index, entry) in &self.entries {
            let bytes = postcard::to_stdvec(entry).map_err(std::io::Error::other)?;
            offsets.insert(*index, buf.len() as u64);
            buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            buf.extend_from_slice(&bytes);
        }
        let tmp = files.dir.join("log.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        let path = files.dir.join("log");
        std::fs::rename(&tmp, &path)?;
        File::open(&files.dir)?.sync_all()?;
        files.log = Arc::new(OpenOptions::new().read(true).write(true).open(&path)?);
        files.offsets = offsets;
        files.len = buf.len() as u64;
        files.allocated = files.allocated.map(|_| files.len);
        Ok(())
    }

    fn save_meta(&self) -> std::io::Result<()> {
        let Some(files) = &self.files else { return Ok(()) };
        let bytes = postcard::to_stdvec(&self.meta).map_err(std::io::Error::other)?;
        let tmp = files.dir.join("meta.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, files.dir.join("meta"))?;
        File::open(&files.dir)?.sync_all()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        let log = self.log.lock();
        Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let log = self.log.lock();
        let last_purged = log.meta.last_purged;
        let last = log.entries.values().next_back().map(|e| e.log_id).or(last_purged);
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let mut log = self.log.lock();
        log.meta.vote = Some(*vote);
        log.save_meta().map_err(io_err)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.log.lock().meta.vote)
    }

    /// Kept in memory (and written with the next vote): persisting it on
    /// every commit would cost an fsync per write, and a restarted member
    /// learns the committed index from the leader anyway.
    async fn save_committed(&mut self, c: Option<LogId<u64>>) -> Result<(), StorageError<u64>> {
        self.log.lock().meta.committed = c;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        Ok(self.log.lock().meta.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut guard = self.log.lock();
        let log = &mut *guard;
        let mut buf = Vec::new();
        let mut records = Vec::new();
        for e in entries {
            if let Some(files) = &log.files {
                let bytes = postcard::to_stdvec(&e).map_err(io_err)?;
                let at = files.len + buf.len() as u64;
                buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                buf.extend_from_slice(&bytes);
                records.push((e.log_id.index, at));
            }
            log.entries.insert(e.log_id.index, e);
        }
        match &mut log.files {
            // One write for the whole batch openraft hands over; the fsync
            // happens on the flusher thread, which tells openraft.
            Some(files) => {
                files.reserve(buf.len() as u64).map_err(io_err)?;
                std::os::unix::fs::FileExt::write_all_at(&*files.log, &buf, files.len)
                    .map_err(io_err)?;
                files.len += buf.len() as u64;
                files.offsets.extend(records);
                let flush = Flush { file: files.log.clone(), callback };
                if let Err(std::sync::mpsc::SendError(flush)) = files.flusher.send(flush) {
                    let stopped = std::io::Error::other("the log's flusher thread stopped");
                    flush.callback.log_io_completed(Err(stopped));
                }
            }
            None => callback.log_io_completed(Ok(())),
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut log = self.log.lock();
        log.entries.split_off(&log_id.index);
        if let Some(files) = &mut log.files {
            let dropped = files.offsets.split_off(&log_id.index);
            if let Some((_, &at)) = dropped.iter().next() {
                files.log.set_len(at).and_then(|()| files.log.sync_all()).map_err(io_err)?;
                files.len = at;
                files.allocated = files.allocated.map(|_| at);
            }
        }
        Ok(())
    }

    /// Forgets entries up to `log_id` (a snapshot holds them): records the
    /// purge in `meta`, then rewrites `log` without them. A crash between
    /// the two leaves records that the next open skips.
    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut log = self.log.lock();
        let keep = log.entries.split_off(&(log_id.index + 1));
        log.entries = keep;
        log.meta.last_purged = Some(log_id);
        log.save_meta().map_err(io_err)?;
        log.rewrite().map_err(io_err)
    }
}
