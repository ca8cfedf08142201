//! The lease table: TTLs, deadlines and the keys attached to each lease.
//! Deleting the keys of an expired or revoked lease is the store's job; this
//! table only says which leases are due and which keys they hold.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bytes::Bytes;
use orch_core::{Error, Result};
use tokio::time::Instant;

/// What one lease costs in the database size, in bytes (etcd's quota
/// estimate for a lease, `leaseOverhead`).
pub(crate) const LEASE_OVERHEAD_BYTES: u64 = 64;

#[derive(Debug)]
struct Lease {
    granted_ttl_seconds: i64,
    deadline: Instant,
    keys: BTreeSet<Bytes>,
}

/// All live leases.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    leases: HashMap<i64, Lease>,
    by_deadline: BTreeSet<(Instant, i64)>,
    last_id: i64,
}

impl Leases {
    /// Grants a lease; `id` 0 picks the next free ID.
    pub(crate) fn grant(&mut self, ttl_seconds: i64, id: i64, now: Instant) -> Result<i64> {
        let id = if id == 0 {
            loop {
                self.last_id = self.last_id.wrapping_add(1).max(1);
                if !self.leases.contains_key(&self.last_id) {
                    break self.last_id;
                }
            }
        } else if id < 0 {
            return Err(Error::InvalidRequest(format!("lease id {id} is negative")));
        } else if self.leases.contains_key(&id) {
            return Err(Error::LeaseExists(id));
        } else {
            id
        };
        let deadline = now + Duration::from_secs(ttl_seconds as u64);
        self.leases.insert(
            id,
            Lease { granted_ttl_seconds: ttl_seconds, deadline, keys: BTreeSet::new() },
        );
        self.by_deadline.insert((deadline, id));
        Ok(id)
    }

    /// Renews a lease to its full TTL; returns that TTL in seconds.
    pub(crate) fn keep_alive(&mut self, id: i64, now: Instant) -> Result<i64> {
        let lease = self.leases.get_mut(&id).ok_or(Error::LeaseNotFound(id))?;
        if lease.deadline <= now {
            // Expired but not yet collected: as etcd, it cannot be renewed.
            return Err(Error::LeaseNotFound(id));
        }
        self.by_deadline.remove(&(lease.deadline, id));
        lease.deadline = now + Duration::from_secs(lease.granted_ttl_seconds as u64);
        self.by_deadline.insert((lease.deadline, id));
        Ok(lease.granted_ttl_seconds)
    }

    /// Removes a lease; returns the keys it held.
    pub(crate) fn remove(&mut self, id: i64) -> Result<BTreeSet<Bytes>> {
        let lease = self.leases.remove(&id).ok_or(Error::LeaseNotFound(id))?;
        self.by_deadline.remove(&(lease.deadline, id));
        Ok(lease.keys)
    }

    /// Fails with `LeaseNotFound` unless `id` is 0 or a live lease.
    pub(crate) fn check(&self, id: i64) -> Result<()> {
        if id == 0 || self.leases.contains_key(&id) {
            Ok(())
        } else {
            Err(Error::LeaseNotFound(id))
        }
    }

    /// Records that `key` now belongs to `new` (0: none), not to `old`.
    pub(crate) fn reattach(&mut self, key: &Bytes, old: i64, new: i64) {
        if old == new {
            return;
        }
        if let Some(lease) = self.leases.get_mut(&old) {
            lease.keys.remove(key);
        }
        if let Some(lease) = self.leases.get_mut(&new) {
            lease.keys.insert(key.clone());
        }
    }

    /// Remaining TTL (seconds, rounded up), granted TTL and keys of a lease.
    pub(crate) fn time_to_live(&self, id: i64, now: Instant) -> Result<(i64, i64, Vec<Bytes>)> {
        let lease = self.leases.get(&id).ok_or(Error::LeaseNotFound(id))?;
        let left = lease.deadline.saturating_duration_since(now);
        let left_seconds = left.as_secs() as i64 + i64::from(left.subsec_nanos() > 0);
        Ok((left_seconds, lease.granted_ttl_seconds, lease.keys.iter().cloned().collect()))
    }

    /// Restarts every lease's TTL from `now`, expired or not.
    pub(crate) fn refresh_all(&mut self, now: Instant) {
        self.by_deadline.clear();
        for (id, lease) in &mut self.leases {
            lease.deadline = now + Duration::from_secs(lease.granted_ttl_seconds as u64);
            self.by_deadline.insert((lease.deadline, *id));
        }
    }

    /// Number of leases granted and not yet revoked.
    pub(crate) fn len(&self) -> usize {
        self.leases.len()
    }

    /// IDs of all leases.
    pub(crate) fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.leases.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The earliest deadline, if any lease exists.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(d, _)| *d)
    }

    /// Every lease as (ID, granted TTL in seconds, keys), and the last
    /// ID picked, for an image of the store.
    pub(crate) fn to_image(&self) -> crate::image::LeasesImage {
        let mut leases: Vec<_> = self
            .leases
            .iter()
            .map(|(id, l)| (*id, l.granted_ttl_seconds, l.keys.iter().cloned().collect()))
            .collect();
        leases.sort_unstable_by_key(|l: &(i64, i64, Vec<Bytes>)| l.0);
        crate::image::LeasesImage { leases, last_id: self.last_id }
    }

    /// The leases an image holds, each with its full TTL from `now` (as a
    /// restored etcd, or a new leader, restarts them).
    pub(crate) fn from_image(image: crate::image::LeasesImage, now: Instant) -> Leases {
        let mut leases = Leases { last_id: image.last_id, ..Default::default() };
        for (id, ttl, keys) in image.leases {
            let deadline = now + Duration::from_secs(ttl.max(0) as u64);
            let lease =
                Lease { granted_ttl_seconds: ttl, deadline, keys: keys.into_iter().collect() };
            leases.leases.insert(id, lease);
            leases.by_deadline.insert((deadline, id));
        }
        leases
    }

    /// IDs of leases whose deadline has passed.
    pub(crate) fn expired(&self, now: Instant) -> Vec<i64> {
        self.by_deadline.iter().take_while(|(d, _)| *d <= now).map(|(_, id)| *id).collect()
    }
}
