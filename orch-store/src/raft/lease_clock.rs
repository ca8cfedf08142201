//! The leader's lease clock, as etcd's lessor: expiry is decided by the
//! leader alone and carried out through the log.

use std::sync::Weak;

use super::command::Op;
use super::{Member, LEASE_CHECK_INTERVAL};

/// The leader's lease clock: revokes expired leases through the log, and
/// restarts every TTL when this member becomes leader.
pub(super) async fn expire_leases(member: Weak<Member>) {
    let mut was_leader = false;
    loop {
        tokio::time::sleep(LEASE_CHECK_INTERVAL).await;
        let Some(m) = member.upgrade() else { return };
        let leader = m.raft.metrics().borrow().current_leader == Some(m.id);
        if leader && !was_leader {
            m.store.refresh_leases();
        }
        was_leader = leader;
        if !leader {
            continue;
        }
        for id in m.store.expired_leases() {
            // A concurrent revoke may win: fine.
            let _ = m.propose(Op::LeaseRevoke { id }).await;
        }
    }
}
