//! Expectations, after Kubernetes' `ControllerExpectations`: what a
//! controller just created or deleted and has not yet seen in its cache.
//! Until the cache catches up (or the expectations expire), the controller
//! does not act on the stale count again — so watch lag never double-creates
//! or double-deletes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use orch_core::controller::{Cache, ObjectKey};
use orch_core::kinds::pod::Pod;

/// How long unmet expectations hold before the controller acts anyway
/// (Kubernetes' `ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Expected {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Instant,
}

/// How the cache holds an object an expectation names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not in the cache.
    Absent,
    /// In the cache, not marked for deletion.
    Live,
    /// In the cache with a deletionTimestamp.
    Terminating,
}

/// Pending creates and deletes per owner.
#[derive(Debug, Default)]
pub struct Expectations {
    by_owner: Mutex<HashMap<ObjectKey, Expected>>,
}

impl Expectations {
    /// Records that `owner` created these names and deleted those.
    pub fn expect(
        &self,
        owner: &ObjectKey,
        creates: impl IntoIterator<Item = String>,
        deletes: impl IntoIterator<Item = String>,
    ) {
        let mut map = self.by_owner.lock();
        let e = map.entry(owner.clone()).or_insert_with(|| Expected {
            creates: HashSet::new(),
            deletes: HashSet::new(),
            since: Instant::now(),
        });
        e.creates.extend(creates);
        e.deletes.extend(deletes);
        e.since = Instant::now();
    }

    /// True if every expected create is in the cache and every expected
    /// delete has been seen — marked for deletion or gone — per `seen`, or
    /// the expectations expired. As Kubernetes' `DeletionObserved`, a
    /// deletion counts as soon as the Pod carries a deletionTimestamp, so a
    /// scale-down does not wait out the Pods' grace periods.
    pub fn satisfied(&self, owner: &ObjectKey, seen: impl Fn(&str) -> Seen) -> bool {
        let mut map = self.by_owner.lock();
        let Some(e) = map.get_mut(owner) else {
            return true;
        };
        e.creates.retain(|n| seen(n) == Seen::Absent);
        e.deletes.retain(|n| seen(n) == Seen::Live);
        if (e.creates.is_empty() && e.deletes.is_empty())
            || e.since.elapsed() > EXPECTATIONS_TIMEOUT
        {
            map.remove(owner);
            return true;
        }
        false
    }

    /// [`satisfied`](Self::satisfied) with what `pods` (the informer's
    /// cache) holds in the owner's namespace.
    pub fn satisfied_by(&self, owner: &ObjectKey, pods: &Cache<Pod>) -> bool {
        self.satisfied(owner, |name| {
            match pods.get(&ObjectKey::new(owner.namespace.clone(), name)) {
                None => Seen::Absent,
                Some(p) if p.metadata.is_deleting() => Seen::Terminating,
                Some(_) => Seen::Live,
            }
        })
    }

    /// Forgets an owner (it was deleted).
    pub fn forget(&self, owner: &ObjectKey) {
        self.by_owner.lock().remove(owner);
    }
}
