//! A point-in-time image of a [`MemStore`](crate::MemStore): every retained
//! version of every key, the event log since the compact revision (so
//! watches resume across a restore), and the leases. It is what a Raft
//! snapshot holds and what etcd's `Maintenance.Snapshot` streams as a
//! backup.
//!
//! Encoding: the 8 bytes `ORCHIMG1`, the payload's length and its FNV-1a
//! 64-bit hash (each 8 bytes, little-endian), then the payload (postcard);
//! bytes after the payload are ignored. A truncated or corrupted image is
//! refused with an error, never half-loaded.
//!
//! As a backup file (what `Maintenance.Snapshot` streams and `etcdctl
//! snapshot save` writes), the image is padded with zeros to a multiple of
//! 512 bytes and followed by the SHA-256 of what precedes it — the shape of
//! etcd's snapshot (database pages, then their SHA-256), which etcdctl
//! checks.

use bytes::Bytes;
use orch_core::store::{Event, KeyValue};
use orch_core::{Error, Result};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"ORCHIMG1";
/// Magic, length, hash.
const HEADER: usize = 24;
/// etcd's snapshot files are whole 512-byte pages plus a SHA-256.
#[cfg(feature = "etcd-api")]
const PAGE: usize = 512;
#[cfg(feature = "raft")]
const SHA256_LEN: usize = 32;

/// A backup file for `image`: padded to whole 512-byte pages, then the
/// SHA-256 of those pages (see the module docs).
#[cfg(feature = "etcd-api")]
pub(crate) fn to_backup_file(mut image: Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    let padded = image.len().div_ceil(PAGE) * PAGE;
    image.resize(padded, 0);
    let sum = sha2::Sha256::digest(&image);
    image.extend_from_slice(&sum);
    image
}

/// The image in a backup file, after checking its SHA-256; an image
/// without the backup file's trailer is taken as it is.
///
/// Errors: `InvalidRequest` if the SHA-256 does not match.
#[cfg(feature = "raft")]
pub(crate) fn from_backup_file(bytes: &[u8]) -> Result<&[u8]> {
    use sha2::Digest;
    if bytes.len() % PAGE != SHA256_LEN {
        return Ok(bytes);
    }
    let (pages, sum) = bytes.split_at(bytes.len() - SHA256_LEN);
    if sha2::Sha256::digest(pages).as_slice() != sum {
        return Err(Error::InvalidRequest(
            "backup file: its SHA-256 does not match (truncated or corrupted)".into(),
        ));
    }
    Ok(pages)
}

/// One key's versions, oldest first: (mod revision, kv or `None` for a
/// deletion).
pub(crate) type Versions = Vec<(i64, Option<KeyValue>)>;

#[derive(Serialize, Deserialize)]
pub(crate) struct MvccImage {
    pub(crate) revision: i64,
    pub(crate) compact_revision: i64,
    /// Each key with its versions.
    pub(crate) keys: Vec<(Bytes, Versions)>,
    /// The events of each retained revision.
    pub(crate) log: Vec<(i64, Vec<Event>)>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct LeasesImage {
    /// (ID, granted TTL in seconds, keys).
    pub(crate) leases: Vec<(i64, i64, Vec<Bytes>)>,
    pub(crate) last_id: i64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Image {
    pub(crate) mvcc: MvccImage,
    pub(crate) leases: LeasesImage,
}

/// What follows the image that starts `bytes` (a Raft snapshot keeps its
/// alarms there; see `raft/alarm.rs`).
///
/// Errors: `InvalidRequest` if `bytes` do not start with a whole image's
/// header and payload.
#[cfg(feature = "raft")]
pub(crate) fn after_image(bytes: &[u8]) -> Result<&[u8]> {
    let len = bytes
        .get(8..16)
        .filter(|_| bytes.starts_with(MAGIC))
        .and_then(|w| usize::try_from(u64::from_le_bytes(w.try_into().ok()?)).ok())
        .and_then(|len| HEADER.checked_add(len))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            Error::InvalidRequest("not a valid orch store image: truncated or not an image".into())
        })?;
    Ok(&bytes[len..])
}

fn fnv(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(bytes);
    h.finish()
}

impl Image {
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let payload = postcard::to_stdvec(self)
            .map_err(|e| Error::Unavailable(format!("encoding a store image: {e}")))?;
        let mut out = Vec::with_capacity(payload.len() + HEADER);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&fnv(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Errors: `InvalidRequest` if `bytes` is not an image, or is truncated
    /// or corrupted.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Image> {
        let bad = |why: &str| Error::InvalidRequest(format!("not a valid orch store image: {why}"));
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(bad("it does not start with ORCHIMG1"));
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let (len, hash) = (word(8), word(16));
        let payload = usize::try_from(len)
            .ok()
            .and_then(|len| bytes.get(HEADER..HEADER.checked_add(len)?))
            .ok_or_else(|| bad("it is shorter than its length says (truncated)"))?;
        if fnv(payload) != hash {
            return Err(bad("its checksum does not match (truncated or corrupted)"));
        }
        postcard::from_bytes(payload).map_err(|e| bad(&e.to_string()))
    }
}
