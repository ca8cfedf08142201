//! The multi-version key space: every key's history of versions, the event
//! log of every revision, range reads at any retained revision, and
//! compaction. Pure data, no locking and no I/O: `MemStore` wraps it in a
//! mutex, and the Raft store will apply its log to it.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use orch_core::store::{
    Event, EventType, KeyRange, KeyValue, RangeRequest, RangeResponse, ResponseHeader,
};
use orch_core::{Error, Result};

/// What one retained revision of a key costs in the database size beyond
/// its key and value, in bytes: its revisions, version and lease, its place
/// in the key's history and in the event log. etcd's quota uses the same
/// 256-byte estimate for a key's metadata (`kvOverhead`).
pub(crate) const REVISION_OVERHEAD_BYTES: u64 = 256;

/// The database size one version of a key takes, in bytes: its key, its
/// value (none for a deletion's tombstone), and [`REVISION_OVERHEAD_BYTES`].
pub(crate) fn version_bytes(key_len: usize, value_len: usize) -> u64 {
    key_len as u64 + value_len as u64 + REVISION_OVERHEAD_BYTES
}

/// One version of a key: its kv, or a tombstone for a deletion.
#[derive(Clone, Debug)]
struct Version {
    mod_revision: i64,
    /// `None` for a deletion.
    kv: Option<KeyValue>,
}

/// Every retained version of one key, oldest first.
#[derive(Clone, Debug, Default)]
struct KeyHistory {
    versions: Vec<Version>,
}

impl KeyHistory {
    /// The live kv as of `revision` (the newest version at or below it, unless
    /// that is a tombstone).
    fn at(&self, revision: i64) -> Option<&KeyValue> {
        let last = self.versions.last()?;
        if last.mod_revision <= revision {
            return last.kv.as_ref();
        }
        let idx = self.versions.partition_point(|v| v.mod_revision <= revision);
        if idx == 0 {
            return None;
        }
        self.versions[idx - 1].kv.as_ref()
    }

    fn latest(&self) -> Option<&KeyValue> {
        self.versions.last().and_then(|v| v.kv.as_ref())
    }

    /// Drops versions that no read at or after `compact_revision` can see.
    /// Returns true if nothing is left, and the bytes (see [`version_bytes`])
    /// the dropped versions of `key` took.
    fn compact(&mut self, key: &[u8], compact_revision: i64) -> (bool, u64) {
        // The newest version at or below the compact revision stays (it is
        // what a read at exactly that revision sees), unless it is a tombstone.
        let idx = self.versions.partition_point(|v| v.mod_revision <= compact_revision);
        let mut freed = 0;
        if idx > 0 {
            let keep_from = if self.versions[idx - 1].kv.is_some() { idx - 1 } else { idx };
            freed = self.versions.drain(..keep_from).map(|v| v.bytes(key)).sum();
        }
        (self.versions.is_empty(), freed)
    }

    /// The bytes every version of `key` takes.
    fn bytes(&self, key: &[u8]) -> u64 {
        self.versions.iter().map(|v| v.bytes(key)).sum()
    }
}

impl Version {
    /// The database size this version of `key` takes ([`version_bytes`]).
    fn bytes(&self, key: &[u8]) -> u64 {
        version_bytes(key.len(), self.kv.as_ref().map_or(0, |kv| kv.value.len()))
    }
}

/// The events of one revision, each with its previous kv (stripped later for
/// watchers that did not ask for it).
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) revision: i64,
    pub(crate) events: Vec<Event>,
}

impl Batch {
    /// True if any event of this batch falls in `range`.
    pub(crate) fn touches(&self, range: &KeyRange) -> bool {
        self.events.iter().any(|e| range.contains(&e.kv.key))
    }
}

/// The key space with its history.
#[derive(Debug)]
pub(crate) struct Mvcc {
    revision: i64,
    compact_revision: i64,
    keys: BTreeMap<Bytes, KeyHistory>,
    /// One batch per revision in `(compact_revision, revision]`, contiguous.
    log: VecDeque<Arc<Batch>>,
    /// Events of the revision being written, not yet committed.
    pending: Vec<Event>,
    /// The database size, in bytes: [`version_bytes`] of every retained
    /// version of every key, kept up to date by each write and compaction.
    size: u64,
}

impl Default for Mvcc {
    fn default() -> Self {
        // As etcd, a new store is at revision 1 and its first write creates 2.
        Mvcc {
            revision: 1,
            compact_revision: 0,
            keys: BTreeMap::new(),
            log: VecDeque::new(),
            pending: Vec::new(),
            size: 0,
        }
    }
}

impl Mvcc {
    pub(crate) fn revision(&self) -> i64 {
        self.revision
    }

    pub(crate) fn compact_revision(&self) -> i64 {
        self.compact_revision
    }

    /// The database size, in bytes: the key and value of every retained
    /// version of every key (a deletion's tombstone has its key only), plus
    /// [`REVISION_OVERHEAD_BYTES`] for each. Compaction lowers it.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.size
    }

    fn header(&self) -> ResponseHeader {
        ResponseHeader { revision: self.revision }
    }

    /// Checks that `revision` (0 = current) can be read and resolves it.
    pub(crate) fn readable(&self, revision: i64) -> Result<i64> {
        if revision <= 0 {
            return Ok(self.revision);
        }
        if revision > self.revision {
            return Err(Error::FutureRevision { requested: revision, current: self.revision });
        }
        if revision < self.compact_revision {
            return Err(Error::Compacted {
                requested: revision,
                compact_revision: self.compact_revision,
            });
        }
        Ok(revision)
    }

    /// Iterates the histories of the keys in `range`, in key order.
    fn histories<'a>(
        &'a self,
        range: &'a KeyRange,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, &'a KeyHistory)> + 'a> {
        if range.is_single_key() {
            return Box::new(self.keys.get_key_value(&range.key).into_iter());
        }
        let start = if &range.key[..] == b"\0" {
            Bound::Unbounded
        } else {
            Bound::Included(&range.key[..])
        };
        let end = if &range.range_end[..] == b"\0" {
            Bound::Unbounded
        } else {
            if range.range_end <= range.key && &range.key[..] != b"\0" {
                return Box::new(std::iter::empty());
            }
            Bound::Excluded(&range.range_end[..])
        };
        Box::new(self.keys.range::<[u8], _>((start, end)))
    }

    /// An etcd Range.
    pub(crate) fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        // A current read also sees the writes of a txn in progress (as etcd's
        // txns read their own writes).
        let revision = if req.revision <= 0 { i64::MAX } else { self.readable(req.revision)? };
        let limit = if req.limit > 0 { req.limit as usize } else { usize::MAX };
        let mut kvs = Vec::new();
        let mut count = 0i64;
        for (_, history) in self.histories(&req.range) {
            let Some(kv) = history.at(revision) else {
                continue;
            };
            count += 1;
            if req.count_only || kvs.len() >= limit {
                continue;
            }
            let mut kv = kv.clone();
            if req.keys_only {
                kv.value = Bytes::new();
            }
            kvs.push(kv);
        }
        let more = !req.count_only && (count as usize) > kvs.len();
        Ok(RangeResponse { header: self.header(), kvs, more, count })
    }

    /// The live kvs in `range` now.
    pub(crate) fn live_in<'a>(
        &'a self,
        range: &'a KeyRange,
    ) -> impl Iterator<Item = &'a KeyValue> + 'a {
        self.histories(range).filter_map(|(_, h)| h.latest())
    }

    /// The revision the pending writes will get.
    pub(crate) fn next_revision(&self) -> i64 {
        self.revision + 1
    }

    /// Writes `key` at the pending revision; returns the previous live kv.
    pub(crate) fn put(&mut self, key: Bytes, value: Bytes, lease: i64) -> Option<KeyValue> {
        let revision = self.next_revision();
        let history = self.keys.entry(key.clone()).or_default();
        let prev = history.latest().cloned();
        let kv = KeyValue {
            key,
            value,
            create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            lease,
        };
        history.versions.push(Version { mod_revision: revision, kv: Some(kv.clone()) });
        self.size += version_bytes(kv.key.len(), kv.value.len());
        self.pending.push(Event { kind: EventType::Put, kv, prev_kv: prev.clone() });
        prev
    }

    /// Deletes every live key in `range` at the pending revision; returns the
    /// deleted kvs.
    pub(crate) fn delete_range(&mut self, range: &KeyRange) -> Vec<KeyValue> {
        let doomed: Vec<Bytes> = self.live_in(range).map(|kv| kv.key.clone()).collect();
        doomed.into_iter().filter_map(|key| self.delete(&key)).collect()
    }

    /// Deletes one key at the pending revision; returns its last kv.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Option<KeyValue> {
        let revision = self.next_revision();
        let history = self.keys.get_mut(key)?;
        let prev = history.latest()?.clone();
        history.versions.push(Version { mod_revision: revision, kv: None });
        self.size += version_bytes(key.len(), 0);
        self.pending.push(Event {
            kind: EventType::Delete,
            kv: KeyValue { key: prev.key.clone(), mod_revision: revision, ..Default::default() },
            prev_kv: Some(prev.clone()),
        });
        Some(prev)
    }

    /// Ends the pending revision: if it wrote anything, the revision advances
    /// and its batch is returned for the watchers.
    pub(crate) fn commit(&mut self) -> Option<Arc<Batch>> {
        if self.pending.is_empty() {
            return None;
        }
        self.revision += 1;
        let batch =
            Arc::new(Batch { revision: self.revision, events: std::mem::take(&mut self.pending) });
        self.log.push_back(batch.clone());
        Some(batch)
    }

    /// The logged batches from `from` (inclusive), at most `max` of them.
    ///
    /// Errors: `Compacted` if `from` is older than the compact revision.
    pub(crate) fn batches_from(&self, from: i64, max: usize) -> Result<Vec<Arc<Batch>>> {
        let from = from.max(1);
        if from < self.compact_revision {
            return Err(Error::Compacted {
                requested: from,
                compact_revision: self.compact_revision,
            });
        }
        let Some(first) = self.log.front() else {
            return Ok(Vec::new());
        };
        let skip = (from - first.revision).max(0) as usize;
        Ok(self.log.iter().skip(skip).take(max).cloned().collect())
    }

    /// Compacts history below `revision`.
    pub(crate) fn compact(&mut self, revision: i64) -> Result<()> {
        if revision <= self.compact_revision {
            return Err(Error::Compacted {
                requested: revision,
                compact_revision: self.compact_revision,
            });
        }
        if revision > self.revision {
            return Err(Error::FutureRevision { requested: revision, current: self.revision });
        }
        self.compact_revision = revision;
        let mut freed = 0;
        self.keys.retain(|key, h| {
            let (empty, bytes) = h.compact(key, revision);
            freed += bytes;
            !empty
        });
        self.size = self.size.saturating_sub(freed);
        while self.log.front().is_some_and(|b| b.revision < revision) {
            self.log.pop_front();
        }
        Ok(())
    }

    /// Every retained version of every key and the event log, for an
    /// image of the store.
    pub(crate) fn to_image(&self) -> crate::image::MvccImage {
        crate::image::MvccImage {
            revision: self.revision,
            compact_revision: self.compact_revision,
            keys: self
                .keys
                .iter()
                .map(|(k, h)| {
                    (k.clone(), h.versions.iter().map(|v| (v.mod_revision, v.kv.clone())).collect())
                })
                .collect(),
            log: self.log.iter().map(|b| (b.revision, b.events.clone())).collect(),
        }
    }

    /// The key space an image holds (its size measured once, here).
    pub(crate) fn from_image(image: crate::image::MvccImage) -> Mvcc {
        let mut mvcc = Mvcc {
            revision: image.revision,
            compact_revision: image.compact_revision,
            keys: image
                .keys
                .into_iter()
                .map(|(k, versions)| {
                    let versions = versions
                        .into_iter()
                        .map(|(mod_revision, kv)| Version { mod_revision, kv })
                        .collect();
                    (k, KeyHistory { versions })
                })
                .collect(),
            log: image
                .log
                .into_iter()
                .map(|(revision, events)| Arc::new(Batch { revision, events }))
                .collect(),
            pending: Vec::new(),
            size: 0,
        };
        mvcc.size = mvcc.keys.iter().map(|(k, h)| h.bytes(k)).sum();
        mvcc
    }

    /// Number of live keys (for memory figures).
    pub(crate) fn live_keys(&self) -> usize {
        self.keys.values().filter(|h| h.latest().is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size measured from scratch, as an image restored would.
    fn measured(m: &Mvcc) -> u64 {
        Mvcc::from_image(m.to_image()).size_bytes()
    }

    /// The size kept up to date write by write is the size measured from
    /// scratch, through puts, deletions and compactions; compaction frees
    /// the bytes of the revisions it drops.
    #[test]
    fn size_tracks_every_retained_revision() {
        let mut m = Mvcc::default();
        assert_eq!(m.size_bytes(), 0);
        for i in 0..20u32 {
            let key = Bytes::from(format!("/k/{}", i % 4));
            m.put(key.clone(), Bytes::from(vec![b'v'; i as usize * 10]), 0);
            if i % 7 == 3 {
                m.delete(&key);
            }
            m.commit();
            assert_eq!(m.size_bytes(), measured(&m), "after write {i}");
        }
        // Twenty puts (values of 0..=190 bytes) and three tombstones
        // (writes 3, 10 and 17), each with a 4-byte key and the overhead.
        let values: u64 = (0..20u64).map(|i| i * 10).sum();
        let want = values + 23 * (4 + REVISION_OVERHEAD_BYTES);
        assert_eq!(m.size_bytes(), want);
        let before = m.size_bytes();
        m.compact(m.revision()).expect("compact");
        assert_eq!(m.size_bytes(), measured(&m));
        assert!(m.size_bytes() < before, "{} >= {before}", m.size_bytes());
        // Only the live version of each live key is left.
        let live: u64 = m
            .live_in(&KeyRange::prefix("/k/"))
            .map(|kv| version_bytes(kv.key.len(), kv.value.len()))
            .sum();
        assert_eq!(m.size_bytes(), live);
    }
}
