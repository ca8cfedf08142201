//! The Raft log, vote and committed index of one member: in memory, and —
//! when opened on a directory — in files there, fsynced before openraft is
//! told an append is durable.
//!
//! Files: `log`, a sequence of records, written once per append call
//! (openraft batches entries that queue up into one append) and fsynced by
//! a flusher thread — one fsync for every append that queued up meanwhile
//! — before openraft is told they are durable; a truncation cuts the file
//! at the first dropped record; a purge (after a snapshot) rewrites it
//! without the purged records, copying the records kept into a new file
//! on a blocking thread, off the async runtime's (see `purge.rs`). After
//! the last record the file may hold
//! zeros (it is preallocated). `meta`, the vote and purged log ID (and the
//! committed one as of the last vote), replaced atomically (write, fsync,
//! rename).
//!
//! # A record of `log`
//!
//! ```text
//! [u32 LE: payload length][u32 LE: crc32c(payload)][u32 LE: crc32c(the 8 bytes before)][payload]
//! ```
//!
//! The payload is one entry, postcard-encoded, never empty. The header's
//! own checksum lets a reader tell a record's start from any other bytes
//! without trusting its length, so after a damaged record the rest of the
//! file can be searched for valid ones cheaply.
//!
//! # Reading it back
//!
//! [`LogStore::open`] reads records from the start while both checksums
//! match. Where that stops short of the end of the file and something other
//! than zeros is left (a record cut short, a checksum that fails), the rest
//! of the file is searched, at every byte offset, for a valid record:
//!
//! - none: a **torn tail**, a write a crash cut short. It is cut off, with
//!   a warning naming the file and the offset.
//! - one: **corruption in the middle** of the log. The log refuses to open,
//!   with an error naming the file and the offset of the damaged record.
//!
//! A record whose checksums match but which does not decode also refuses,
//! and so does a file in the format before records had checksums
//! (`[u32 LE: length][entry, postcard]`), which is not read.
//!
//! Why this never drops an acknowledged entry: an entry is acknowledged
//! (openraft told it is durable) only after the fsync that covers its
//! record, and every record is written after all records before it, so the
//! records a crash can leave incomplete are the last ones in the file —
//! nothing that was ever fsynced follows them. (The file has no fsync
//! boundary of its own, and `meta`'s committed index is no such boundary: a
//! follower may learn an index committed before its own copy is fsynced.)
//! A damaged record followed by a valid one is therefore not a torn write
//! and is never cut. The rule errs towards refusing: a crash that persisted
//! a later page of an unacknowledged write but not an earlier one also
//! refuses, and needs an operator. What it cannot tell apart is a torn
//! last record from bit rot in an acknowledged last record; both are cut.

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

use super::metrics::LogMetrics;
use super::TypeConfig;

mod purge;
mod records;

use records::{frame, read_records, Records};

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
    /// The thread the last purge rewrote the file on (for the tests).
    #[cfg(test)]
    rewritten_on: Option<std::thread::ThreadId>,
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
    /// Held across the file I/O of every write to the log — appends,
    /// truncations, votes and purges — so that they reach the files one at
    /// a time, in the order they were called (openraft calls them one at a
    /// time anyway; this makes it a guarantee of the log). A purge's
    /// rewrite holds it on its blocking thread until the new file is in
    /// place, so no record is ever written to a file being replaced.
    writing: Arc<tokio::sync::Mutex<()>>,
    /// Fsync durations and the saved commit index, for [`super::RaftMetrics`].
    metrics: Arc<LogMetrics>,
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
        let Records { mut entries, mut offsets, end: at } = read_records(&path, &bytes)?;
        // A torn tail, or the zeros of a preallocation: cut.
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
        let metrics = Arc::new(LogMetrics::default());
        let m = metrics.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flush(flushes, &m))?;
        let files = Files {
            dir: dir.to_path_buf(),
            log: Arc::new(log),
            flusher,
            offsets,
            len: at as u64,
            allocated: Some(at as u64),
            #[cfg(test)]
            rewritten_on: None,
        };
        let log = Arc::new(Mutex::new(Log { entries, meta, files: Some(files) }));
        Ok(LogStore { log, writing: Arc::default(), metrics })
    }

    /// What this log records for the member's metrics.
    pub(crate) fn metrics(&self) -> Arc<LogMetrics> {
        self.metrics.clone()
    }

    /// Writes `entries` (in one write, for a durable log) and has the
    /// flusher thread call `done` once they are fsynced — what
    /// [`RaftLogStorage::append`] does with openraft's callback. An error
    /// here means `done` is not called.
    fn append_entries(
        &self,
        entries: impl IntoIterator<Item = Entry<TypeConfig>>,
        done: Done,
    ) -> std::io::Result<()> {
        let mut guard = self.log.lock();
        let log = &mut *guard;
        let mut buf = Vec::new();
        let mut records = Vec::new();
        for e in entries {
            if let Some(files) = &log.files {
                let bytes = postcard::to_stdvec(&e).map_err(std::io::Error::other)?;
                let at = files.len + buf.len() as u64;
                frame(&mut buf, &bytes)?;
                records.push((e.log_id.index, at));
            }
            log.entries.insert(e.log_id.index, e);
        }
        match &mut log.files {
            // One write for the whole batch openraft hands over; the fsync
            // happens on the flusher thread, which tells openraft.
            Some(files) => {
                files.reserve(buf.len() as u64)?;
                std::os::unix::fs::FileExt::write_all_at(&*files.log, &buf, files.len)?;
                files.len += buf.len() as u64;
                files.offsets.extend(records);
                let flush = Flush { file: files.log.clone(), done };
                if let Err(std::sync::mpsc::SendError(flush)) = files.flusher.send(flush) {
                    let stopped = std::io::Error::other("the log's flusher thread stopped");
                    (flush.done)(Err(stopped));
                }
            }
            None => done(Ok(())),
        }
        Ok(())
    }
}

/// What to call once an append is durable, or failed to be.
type Done = Box<dyn FnOnce(std::io::Result<()>) + Send>;

/// Appended records waiting to be made durable, and who to tell.
struct Flush {
    file: Arc<File>,
    done: Done,
}

/// The flusher thread: fsyncs the log for every append waiting, as few
/// times as it can — the appends that arrive while one fsync runs are made
/// durable by the next, together (group commit) — then tells openraft, in
/// order. It ends when the log is dropped.
fn flush(flushes: std::sync::mpsc::Receiver<Flush>, metrics: &LogMetrics) {
    while let Ok(first) = flushes.recv() {
        let mut batch = vec![first];
        batch.extend(flushes.try_iter());
        // A purge may have replaced the file: sync each one written to.
        let mut synced: Vec<&Arc<File>> = Vec::new();
        let mut outcome = Ok(());
        for f in &batch {
            if !synced.iter().any(|s| Arc::ptr_eq(s, &f.file)) {
                synced.push(&f.file);
                let started = std::time::Instant::now();
                let result = f.file.sync_data();
                metrics.wal_fsync.observe(started.elapsed().as_secs_f64());
                if let Err(e) = result {
                    outcome = Err(e);
                }
            }
        }
        for f in batch {
            let result = match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            (f.done)(result);
        }
    }
}

impl Log {
    fn save_meta(&self) -> std::io::Result<()> {
        let Some(files) = &self.files else { return Ok(()) };
        let bytes = postcard::to_stdvec(&self.meta).map_err(std::io::Error::other)?;
        write_meta(&files.dir, &bytes)
    }
}

/// Replaces `dir/meta` with `bytes` atomically (write, fsync, rename,
/// fsync the directory).
fn write_meta(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join("meta.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join("meta"))?;
    File::open(dir)?.sync_all()
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
        let _writing = self.writing.lock().await;
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
        let index = c.map(|l| l.index).unwrap_or(0);
        self.metrics.committed.store(index, std::sync::atomic::Ordering::Relaxed);
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
        let _writing = self.writing.lock().await;
        let done: Done = Box::new(move |result| callback.log_io_completed(result));
        self.append_entries(entries, done).map_err(io_err)
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let _writing = self.writing.lock().await;
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
    /// purge in `meta`, then rewrites `log` without them — both on a
    /// blocking thread (see `purge.rs`). A crash between the two leaves
    /// records that the next open skips.
    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.purge_upto(log_id).await.map_err(io_err)
    }
}

#[cfg(test)]
mod tests;
