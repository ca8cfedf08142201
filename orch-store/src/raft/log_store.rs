//! The Raft log, vote and committed index of one member: in memory, and —
//! when opened on a directory — in files there, fsynced before openraft is
//! told an append is durable.
//!
//! Files: `log`, a sequence of records, written once per append call
//! (openraft batches entries that queue up into one append) and fsynced by
//! a flusher thread — one fsync for every append that queued up meanwhile
//! — before openraft is told they are durable; a truncation cuts the file
//! at the first dropped record; a purge (after a snapshot) rewrites it
//! without the purged records. After the last record the file may hold
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

/// A record's header: payload length, crc32c of the payload, crc32c of
/// those 8 bytes (see the module doc).
const HEADER: usize = 12;

/// Appends one record holding `payload` to `buf`.
fn frame(buf: &mut Vec<u8>, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::other("a log entry of 4 GiB or more"))?;
    let mut head = [0u8; HEADER];
    head[..4].copy_from_slice(&len.to_le_bytes());
    head[4..8].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let head_crc = crc32c::crc32c(&head[..8]);
    head[8..].copy_from_slice(&head_crc.to_le_bytes());
    buf.extend_from_slice(&head);
    buf.extend_from_slice(payload);
    Ok(())
}

/// The little-endian `u32` at `bytes[at..at + 4]`.
fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// The payload of the record that starts at `at`, and where the record
/// ends — if it is whole and both its checksums match.
fn record_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let head = bytes.get(at..at.checked_add(HEADER)?)?;
    let (len, crc, head_crc) = (word(head, 0)?, word(head, 4)?, word(head, 8)?);
    if len == 0 || crc32c::crc32c(head.get(..8)?) != head_crc {
        return None;
    }
    let start = at + HEADER;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let payload = bytes.get(start..end)?;
    (crc32c::crc32c(payload) == crc).then_some((payload, end))
}

/// The entries read back from a `log` file.
struct Records {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    /// Where each entry's record starts, by log index.
    offsets: BTreeMap<u64, u64>,
    /// Where the valid records end: what follows is zeros or a torn tail.
    end: usize,
}

/// An error for a damaged record at `at` in `path`: the log refuses to open.
fn corrupt(path: &Path, at: usize, why: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "raft log {}: corrupt record at byte offset {at}: {why}; refusing to open it \
             (cutting the log there could drop acknowledged entries)",
            path.display()
        ),
    )
}

/// What is wrong with the record at `at` (which [`record_at`] refused).
fn damage(bytes: &[u8], at: usize) -> String {
    let Some(head) = bytes.get(at..at.saturating_add(HEADER)) else {
        return "its header is cut short".into();
    };
    let len = word(head, 0).unwrap_or(0);
    let head_ok = head.get(..8).map(crc32c::crc32c) == word(head, 8);
    if len == 0 || !head_ok {
        return "its header's checksum does not match".into();
    }
    let end = (at + HEADER).saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
    if end > bytes.len() {
        return format!("it runs past the end of the file ({} bytes)", bytes.len());
    }
    "its payload's checksum does not match".into()
}

/// Whether `bytes` start with a record of the format before checksums,
/// `[u32 LE: length][entry, postcard]` — so that a log written by an older
/// version refuses to open rather than being cut as a torn tail.
fn old_format(bytes: &[u8]) -> bool {
    let Some(len) = word(bytes, 0).and_then(|len| usize::try_from(len).ok()) else {
        return false;
    };
    let payload = 4usize.checked_add(len).and_then(|end| bytes.get(4..end));
    payload.is_some_and(|p| postcard::from_bytes::<Entry<TypeConfig>>(p).is_ok())
}

/// Reads the records of the `log` file at `path`, whose contents are
/// `bytes`, telling a torn tail from corruption as the module doc says.
fn read_records(path: &Path, bytes: &[u8]) -> std::io::Result<Records> {
    let (mut entries, mut offsets, mut at) = (BTreeMap::new(), BTreeMap::new(), 0usize);
    while let Some((payload, end)) = record_at(bytes, at) {
        let entry = postcard::from_bytes::<Entry<TypeConfig>>(payload).map_err(|e| {
            corrupt(path, at, format_args!("its checksums match but it does not decode ({e})"))
        })?;
        // A later record for an index replaces the earlier (after a
        // truncation the file was cut, so this is only defensive).
        offsets.split_off(&entry.log_id.index);
        entries.split_off(&entry.log_id.index);
        offsets.insert(entry.log_id.index, at as u64);
        entries.insert(entry.log_id.index, entry);
        at = end;
    }
    // A record is never empty, so its first 4 bytes are not all zero: any
    // valid record starts at or before the last byte that is not zero.
    let last = match bytes.iter().rposition(|&b| b != 0) {
        Some(last) if last >= at => last,
        // Nothing, or the zeros of a preallocation, follows.
        _ => return Ok(Records { entries, offsets, end: at }),
    };
    let why = damage(bytes, at);
    if let Some(next) = (at + 1..=last).find(|&p| record_at(bytes, p).is_some()) {
        return Err(corrupt(
            path,
            at,
            format_args!("{why}, and a valid record follows at offset {next}"),
        ));
    }
    if at == 0 && old_format(bytes) {
        return Err(corrupt(
            path,
            0,
            "the file is in the format before records had checksums ([u32 length][entry]), \
             which this version does not read",
        ));
    }
    tracing::warn!(
        file = %path.display(),
        offset = at,
        "raft log {}: torn record at byte offset {at} ({why}) with no valid record after it — \
         a write cut short by a crash, never acknowledged: cutting the log there",
        path.display()
    );
    Ok(Records { entries, offsets, end: at })
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
            (f.done)(result);
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
            frame(&mut buf, &bytes)?;
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
        let done: Done = Box::new(move |result| callback.log_io_completed(result));
        self.append_entries(entries, done).map_err(io_err)
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

#[cfg(test)]
mod tests {
    //! Damage to the `log` file, as a crash (a cut) or bit rot (a flipped
    //! bit) leaves it: reopening never starts with fewer entries than the
    //! intact records before the damage, nor with a damaged one.

    use std::sync::OnceLock;

    use openraft::{CommittedLeaderId, EntryPayload};
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use super::*;
    use crate::raft::command::{Command, Op};

    /// Entry `index`, of a size that varies with it.
    fn entry(index: u64) -> Entry<TypeConfig> {
        let log_id = LogId::new(CommittedLeaderId::new(1, 1), index);
        if index == 1 {
            return Entry { log_id, payload: EntryPayload::Blank };
        }
        let ops = (0..index % 5 + 1)
            .map(|i| Op::LeaseGrant { id: (index * 100 + i) as i64, ttl_seconds: 60 })
            .collect();
        Entry { log_id, payload: EntryPayload::Normal(Command { member: 1, ops }) }
    }

    /// Appends `entries` and waits until they are fsynced (acknowledged).
    fn append(store: &LogStore, entries: impl IntoIterator<Item = Entry<TypeConfig>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let done: Done = Box::new(move |result| {
            let _ = tx.send(result);
        });
        store.append_entries(entries, done).expect("append");
        rx.recv().expect("the flusher answers").expect("fsync");
    }

    /// The entries a store holds, encoded (so they compare byte for byte).
    fn held(store: &LogStore) -> Vec<Vec<u8>> {
        let entries = futures::executor::block_on(store.clone().try_get_log_entries(..))
            .expect("read the log");
        entries.iter().map(|e| postcard::to_stdvec(e).expect("encode")).collect()
    }

    /// A log of [`ENTRIES`] acknowledged entries, appended in batches.
    struct Written {
        /// The `log` file, without its preallocated zeros.
        bytes: Vec<u8>,
        /// Where each record starts and ends, in entry order.
        records: Vec<(usize, usize)>,
        /// The entries, encoded.
        entries: Vec<Vec<u8>>,
    }

    const ENTRIES: u64 = 20;

    fn written() -> &'static Written {
        static WRITTEN: OnceLock<Written> = OnceLock::new();
        WRITTEN.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = LogStore::open(dir.path()).expect("open");
            for batch in [1..=3, 4..=4, 5..=9, 10..=14, 15..=ENTRIES] {
                append(&store, batch.map(entry));
            }
            let entries = held(&store);
            drop(store);
            // Reopening cuts the preallocated zeros off.
            let store = LogStore::open(dir.path()).expect("reopen");
            assert_eq!(held(&store), entries);
            let (offsets, len) = {
                let log = store.log.lock();
                let files = log.files.as_ref().expect("a durable log");
                (files.offsets.values().map(|&o| o as usize).collect::<Vec<_>>(), files.len)
            };
            drop(store);
            let bytes = std::fs::read(dir.path().join("log")).expect("read the log file");
            assert_eq!(bytes.len() as u64, len);
            let ends = offsets.iter().skip(1).copied().chain([bytes.len()]);
            let records = offsets.iter().copied().zip(ends).collect::<Vec<_>>();
            assert_eq!(records.len() as u64, ENTRIES);
            Written { bytes, records, entries }
        })
    }

    /// Opens a log whose file holds `bytes`, in a fresh directory (kept
    /// alive by the returned handle).
    fn open_with(bytes: &[u8]) -> (tempfile::TempDir, std::io::Result<LogStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("log"), bytes).expect("write the log file");
        let opened = LogStore::open(dir.path());
        (dir, opened)
    }

    /// Warnings logged while `f` runs on this thread.
    fn warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = tracing::subscriber::with_default(Capture(seen.clone()), f);
        let seen = seen.lock().clone();
        (out, seen)
    }

    /// A subscriber that keeps the text of every warning.
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                let mut text = String::new();
                event.record(&mut |field: &tracing::field::Field, value: &dyn Debug| {
                    text.push_str(&format!("{}={value:?} ", field.name()));
                });
                self.0.lock().push(text);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn torn_tail_is_cut_with_a_warning() {
        let w = written();
        let (start, end) = w.records[w.records.len() - 1];
        let cut = start + (end - start) / 2;
        let ((dir, opened), seen) = warnings(|| open_with(&w.bytes[..cut]));
        let store = opened.expect("a torn tail opens");
        assert_eq!(held(&store), w.entries[..w.entries.len() - 1]);
        let path = dir.path().join("log");
        assert!(
            seen.iter().any(|s| s.contains(&path.display().to_string())
                && s.contains(&format!("offset={start}"))),
            "a warning names {} and offset {start}: {seen:?}",
            path.display()
        );
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), start as u64);
        // The cut log takes appends where it was cut, and reads them back.
        append(&store, [entry(ENTRIES)]);
        drop(store);
        let store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(held(&store), w.entries);
    }

    #[test]
    fn corruption_before_valid_records_refuses_naming_file_and_offset() {
        let w = written();
        let (start, end) = w.records[5];
        let mut bytes = w.bytes.clone();
        bytes[(start + end) / 2] ^= 0x10;
        let ((dir, opened), seen) = warnings(|| open_with(&bytes));
        let Err(e) = opened else { panic!("a log damaged in the middle opened") };
        let message = e.to_string();
        let path = dir.path().join("log");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("byte offset {start}")), "{message}");
        assert!(message.contains(&format!("valid record follows at offset {end}")), "{message}");
        assert!(seen.is_empty(), "nothing was cut: {seen:?}");
        // Nothing on disk changed.
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
    }

    #[test]
    fn preallocated_zeros_are_no_damage() {
        let w = written();
        let mut bytes = w.bytes.clone();
        bytes.resize(bytes.len() + 4096, 0);
        let ((_dir, opened), seen) = warnings(|| open_with(&bytes));
        assert_eq!(held(&opened.expect("open")), w.entries);
        assert!(seen.is_empty(), "{seen:?}");
    }

    #[test]
    fn a_record_that_does_not_decode_refuses() {
        let mut bytes = Vec::new();
        frame(&mut bytes, &[0xff; 16]).expect("frame");
        let (dir, opened) = open_with(&bytes);
        let Err(e) = opened else { panic!("an undecodable record opened") };
        let message = e.to_string();
        assert!(message.contains(&dir.path().join("log").display().to_string()), "{message}");
        assert!(message.contains("byte offset 0"), "{message}");
    }

    #[test]
    fn a_log_of_the_format_before_checksums_refuses() {
        let mut bytes = Vec::new();
        for index in 1..=3 {
            let payload = postcard::to_stdvec(&entry(index)).expect("encode");
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&payload);
        }
        let (dir, opened) = open_with(&bytes);
        let Err(e) = opened else { panic!("an old-format log opened") };
        let message = e.to_string();
        assert!(message.contains(&dir.path().join("log").display().to_string()), "{message}");
        assert!(message.contains("format before records had checksums"), "{message}");
        assert_eq!(std::fs::read(dir.path().join("log")).expect("read"), bytes, "nothing was cut");
    }

    proptest! {
        #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

        /// A cut anywhere: the log opens with exactly the records wholly
        /// before the cut (or refuses; never fewer).
        #[test]
        fn cut_at_any_offset(cut in any::<prop::sample::Index>()) {
            let w = written();
            let cut = cut.index(w.bytes.len());
            let whole = w.records.iter().take_while(|&&(_, end)| end <= cut).count();
            let (_dir, opened) = open_with(&w.bytes[..cut]);
            match opened {
                Ok(store) => prop_assert_eq!(held(&store), w.entries[..whole].to_vec()),
                Err(e) => prop_assert!(false, "a cut at {} refused: {}", cut, e),
            }
        }

        /// A bit flipped anywhere: the log refuses, naming the file and the
        /// damaged record's offset — or, where the last record was hit,
        /// opens with every record before it. Never fewer, never damaged.
        #[test]
        fn bit_flipped_at_any_offset(at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let w = written();
            let at = at.index(w.bytes.len());
            let mut bytes = w.bytes.clone();
            bytes[at] ^= 1 << bit;
            let hit = w.records.iter().position(|&(start, end)| start <= at && at < end);
            let hit = hit.expect("every byte is in a record");
            let (dir, opened) = open_with(&bytes);
            match opened {
                Ok(store) => {
                    prop_assert_eq!(hit, w.records.len() - 1, "damage before the last record opened");
                    prop_assert_eq!(held(&store), w.entries[..hit].to_vec());
                }
                Err(e) => {
                    let message = e.to_string();
                    let path = dir.path().join("log").display().to_string();
                    prop_assert!(message.contains(&path), "{}", message);
                    let offset = format!("byte offset {}", w.records[hit].0);
                    prop_assert!(message.contains(&offset), "{}", message);
                }
            }
        }
    }
}
