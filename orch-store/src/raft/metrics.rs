//! RaftStore members' metrics under etcd's names (Prometheus; the
//! prometheus-client crate), read on each scrape:
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `etcd_server_has_leader` | gauge | 1 if the member knows a leader |
//! | `etcd_server_is_leader` | gauge | 1 if the member is the leader |
//! | `etcd_server_proposals_committed_total` | gauge | the member's commit index (etcd's is a gauge too) |
//! | `etcd_server_proposals_applied_total` | gauge | the index the member has applied |
//! | `etcd_mvcc_db_total_size_in_bytes` | gauge | the database size the backend quota counts, in bytes |
//! | `etcd_server_quota_backend_bytes` | gauge | the member's quota in bytes (0: none) |
//! | `etcd_disk_wal_fsync_duration_seconds` | histogram | each fsync of the member's log (etcd's buckets: 1 ms to ~8 s) |
//!
//! Every sample carries a `member` label, the member's name (or its ID in
//! hex where it has no name): one process may hold several members (as
//! [`RaftStore::in_process`] makes them), where etcd runs one per process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;

use super::{Member, RaftStore};

/// What a member's log records for its metrics: fsync durations and the
/// commit index openraft saved.
#[derive(Debug)]
pub(crate) struct LogMetrics {
    /// Seconds per fsync of the log file.
    pub(crate) wal_fsync: Histogram,
    /// The last commit index saved (`save_committed`); 0 before any.
    pub(crate) committed: AtomicU64,
}

impl Default for LogMetrics {
    fn default() -> Self {
        LogMetrics {
            // etcd's: prometheus.ExponentialBuckets(0.001, 2, 14).
            wal_fsync: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            committed: AtomicU64::new(0),
        }
    }
}

/// A [`Collector`] of the members' etcd metrics (see the [module
/// docs](self)); register it with
/// `registry.register_collector(Box::new(RaftMetrics::new(&members)))`.
/// It holds the members weakly: one shut down and dropped is left out.
pub struct RaftMetrics {
    members: Vec<(String, Weak<Member>)>,
}

impl std::fmt::Debug for RaftMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.members.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RaftMetrics").field("members", &names).finish()
    }
}

/// One member's figures at a scrape.
struct Sample {
    has_leader: bool,
    is_leader: bool,
    committed: u64,
    applied: u64,
    db_size: u64,
    quota: u64,
}

impl RaftMetrics {
    /// The metrics of `members` (handles on the members of this process).
    pub fn new(members: &[RaftStore]) -> Self {
        let members = members
            .iter()
            .map(|m| {
                let name = match m.member.info.name.as_str() {
                    "" => format!("{:x}", m.member.id),
                    name => name.to_owned(),
                };
                (name, Arc::downgrade(&m.member))
            })
            .collect();
        RaftMetrics { members }
    }

    fn live(&self) -> Vec<(&str, Arc<Member>)> {
        self.members.iter().filter_map(|(n, m)| Some((n.as_str(), m.upgrade()?))).collect()
    }
}

fn sample(m: &Member) -> Sample {
    let raft = m.raft.metrics().borrow().clone();
    Sample {
        has_leader: raft.current_leader.is_some(),
        is_leader: raft.current_leader == Some(m.id),
        committed: m.log_metrics.committed.load(Ordering::Relaxed),
        applied: raft.last_applied.map(|l| l.index).unwrap_or(0),
        db_size: m.store.db_size_bytes(),
        quota: m.quota.unwrap_or(0),
    }
}

type Gauge = (&'static str, &'static str, fn(&Sample) -> i64);

const GAUGES: [Gauge; 6] = [
    ("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.", |s| {
        i64::from(s.has_leader)
    }),
    (
        "etcd_server_is_leader",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        |s| i64::from(s.is_leader),
    ),
    (
        "etcd_server_proposals_committed_total",
        "The total number of consensus proposals committed.",
        |s| i64::try_from(s.committed).unwrap_or(i64::MAX),
    ),
    (
        "etcd_server_proposals_applied_total",
        "The total number of consensus proposals applied.",
        |s| i64::try_from(s.applied).unwrap_or(i64::MAX),
    ),
    (
        "etcd_mvcc_db_total_size_in_bytes",
        "Total size of the underlying database physically allocated in bytes.",
        |s| i64::try_from(s.db_size).unwrap_or(i64::MAX),
    ),
    ("etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes.", |s| {
        i64::try_from(s.quota).unwrap_or(i64::MAX)
    }),
];

impl Collector for RaftMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let live = self.live();
        let samples: Vec<(&str, Sample)> = live.iter().map(|(n, m)| (*n, sample(m))).collect();
        for (name, help, value) in GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (member, s) in &samples {
                let labels = [("member", *member)];
                ConstGauge::new(value(s)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            None,
            MetricType::Histogram,
        )?;
        for (member, m) in &live {
            let labels = [("member", *member)];
            m.log_metrics.wal_fsync.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
