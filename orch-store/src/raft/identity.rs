//! A member's incarnation, and the incarnations it has seen its peers
//! under — so that a member that lost its data directory is refused rather
//! than silently rejoining with its votes and log forgotten (which Raft's
//! safety does not survive).
//!
//! File `identity` in the data directory: postcard of [`Record`], replaced
//! atomically (write, fsync, rename). The incarnation is chosen at random
//! when the file is first created; a peer records the first incarnation it
//! hears from each member and refuses any other afterwards.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
struct Record {
    incarnation: u64,
    /// Peer member ID → the incarnation it was first seen with.
    peers: BTreeMap<u64, u64>,
}

pub(crate) struct Identity {
    path: PathBuf,
    /// This member's incarnation.
    pub(crate) incarnation: u64,
    /// True when this run created the data directory's identity: the
    /// member starts with no state.
    pub(crate) fresh: bool,
    peers: Mutex<BTreeMap<u64, u64>>,
}

impl Identity {
    /// Reads the identity in `dir`, creating it (with a new incarnation)
    /// if there is none.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Identity> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("identity");
        let (record, fresh) = match std::fs::read(&path) {
            Ok(bytes) => (postcard::from_bytes(&bytes).map_err(std::io::Error::other)?, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (Record { incarnation: fastrand::u64(1..), peers: BTreeMap::new() }, true)
            }
            Err(e) => return Err(e),
        };
        let identity = Identity {
            path,
            incarnation: record.incarnation,
            fresh,
            peers: Mutex::new(record.peers),
        };
        if fresh {
            identity.save(&identity.peers.lock())?;
        }
        Ok(identity)
    }

    /// Checks that member `from` is the incarnation this member knows it
    /// as, recording it on first contact.
    ///
    /// Errors: a message saying the member lost its state, or that the
    /// record could not be saved.
    pub(crate) fn check(&self, from: u64, incarnation: u64) -> Result<(), String> {
        let mut peers = self.peers.lock();
        match peers.get(&from) {
            Some(&known) if known == incarnation => Ok(()),
            Some(&known) => Err(format!(
                "member {from:x} answers as incarnation {incarnation:x}, but this member knew it \
                 as {known:x}: it lost or replaced its data directory; remove it from the \
                 cluster and add it back, or restore its data directory"
            )),
            None => {
                peers.insert(from, incarnation);
                self.save(&peers).map_err(|e| format!("saving peer incarnations: {e}"))
            }
        }
    }

    /// Removes a fresh identity again (the member was refused), so that
    /// the next start is fresh too and is checked again.
    pub(crate) fn forget(&self) {
        if self.fresh {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn save(&self, peers: &BTreeMap<u64, u64>) -> std::io::Result<()> {
        let record = Record { incarnation: self.incarnation, peers: peers.clone() };
        let bytes = postcard::to_stdvec(&record).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}
