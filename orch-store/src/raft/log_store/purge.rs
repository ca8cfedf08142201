//! A purge: forgetting the entries a snapshot holds, then rewriting `log`
//! without their records, off the async runtime's threads.
//!
//! Under the log's lock, at once: the entries go (readers no longer see
//! them), `meta` records the purge, and what the rewrite needs is taken —
//! the new `meta`'s bytes and where the kept records lie in the current
//! file. The kept records are a contiguous run at the end of the file
//! (each record is written after every record before it, and a
//! truncation cuts the file at the first record it drops), so the rewrite
//! copies their bytes as they are rather than encoding the entries again.
//!
//! On a blocking thread, in this order: `meta` is replaced (write, fsync,
//! rename), then `log` (the kept records into `log.tmp`, fsync, rename,
//! fsync the directory), then the new file takes the old one's place in
//! the log. A crash after `meta` and before the rename leaves the purged
//! records in `log`, which the next open skips. The blocking thread holds
//! the log's writer gate (`LogStore::writing`) until the new file is in
//! place — even if the purge's caller stops waiting — so no append,
//! truncation or vote reaches the files meanwhile. Appends written before
//! the purge may still be waiting for the flusher's fsync of the old file:
//! their records were copied into the new file, fsynced before the rename,
//! so they are durable whichever fsync tells openraft.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::LogId;

use super::{write_meta, Log, LogStore};

/// What a rewrite needs, taken under the log's lock.
struct Rewrite {
    dir: PathBuf,
    /// The new `meta`, encoded.
    meta: Vec<u8>,
    /// The current `log` file, and where the kept records lie in it.
    old: Arc<File>,
    from: u64,
    to: u64,
    /// Where each kept entry's record starts in the new file.
    offsets: BTreeMap<u64, u64>,
}

/// The new `log` file, in place on disk, with where its records lie.
struct Rewritten {
    file: File,
    len: u64,
    offsets: BTreeMap<u64, u64>,
}

impl LogStore {
    /// Purges the entries up to `upto`, inclusive (see the module doc).
    pub(super) async fn purge_upto(&self, upto: LogId<u64>) -> std::io::Result<()> {
        let writing = self.writing.clone().lock_owned().await;
        let rewrite = {
            let mut log = self.log.lock();
            let keep = log.entries.split_off(&(upto.index + 1));
            log.entries = keep;
            log.meta.last_purged = Some(upto);
            log.prepare_rewrite(upto.index)?
        };
        let Some(rewrite) = rewrite else { return Ok(()) };
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            let _writing = writing;
            let rewritten = rewrite.run()?;
            log.lock().install(rewritten);
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl Log {
    /// Takes what the rewrite after a purge up to `upto` needs (`None` for
    /// a log in memory); the file's offsets forget the purged records.
    fn prepare_rewrite(&mut self, upto: u64) -> std::io::Result<Option<Rewrite>> {
        let meta = postcard::to_stdvec(&self.meta).map_err(std::io::Error::other)?;
        let Some(files) = &mut self.files else { return Ok(None) };
        files.offsets = files.offsets.split_off(&(upto + 1));
        let from = files.offsets.values().next().copied().unwrap_or(files.len);
        let offsets = files.offsets.iter().map(|(&index, &at)| (index, at - from)).collect();
        Ok(Some(Rewrite {
            dir: files.dir.clone(),
            meta,
            old: files.log.clone(),
            from,
            to: files.len,
            offsets,
        }))
    }

    /// Puts the rewritten file in the old one's place.
    fn install(&mut self, new: Rewritten) {
        let Some(files) = &mut self.files else { return };
        files.log = Arc::new(new.file);
        files.offsets = new.offsets;
        files.len = new.len;
        files.allocated = files.allocated.map(|_| new.len);
        #[cfg(test)]
        {
            files.rewritten_on = Some(std::thread::current().id());
        }
    }
}

impl Rewrite {
    /// Replaces `meta`, then `log` (see the module doc): blocking I/O.
    fn run(self) -> std::io::Result<Rewritten> {
        write_meta(&self.dir, &self.meta)?;
        let len = usize::try_from(self.to - self.from).map_err(std::io::Error::other)?;
        let mut kept = vec![0u8; len];
        self.old.read_exact_at(&mut kept, self.from)?;
        let tmp = self.dir.join("log.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&kept)?;
        f.sync_all()?;
        let path = self.dir.join("log");
        std::fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(Rewritten { file, len: kept.len() as u64, offsets: self.offsets })
    }
}
