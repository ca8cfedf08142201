//! RaftStore's etcd metrics, scraped as Prometheus would: the text the
//! registry encodes is parsed with a Prometheus text parser
//! (prometheus-parse), and each figure checked against the members.
#![cfg(feature = "raft")]

use orch_core::store::{KeyRange, PutRequest, RangeRequest, Store};
use orch_store::{RaftMetrics, RaftStore};
use prometheus_client::registry::Registry;
use prometheus_parse::{Scrape, Value};

/// The members' metrics, parsed.
fn scrape(registry: &Registry) -> Scrape {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("a Prometheus text parser reads it")
}

/// The value of `metric` for `member`.
fn value(scrape: &Scrape, metric: &str, member: &str) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && s.labels.get("member") == Some(member))
        .unwrap_or_else(|| panic!("{metric}{{member={member}}} not scraped"));
    match &sample.value {
        Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.last().map(|b| b.count).unwrap_or(0.0),
        other => panic!("{metric}: unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_report_leadership_proposals_db_size_and_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let members = RaftStore::in_process_durable(3, dir.path()).await.unwrap();
    let leader = members[0].wait_for_leader().await.unwrap();
    for i in 0..20 {
        members[0].put(PutRequest::new(format!("/registry/k{i}"), vec![b'v'; 100])).await.unwrap();
    }
    // A linearizable read on each member: each has applied every write.
    for m in &members {
        m.range(RangeRequest::new(KeyRange::prefix("/registry/"))).await.unwrap();
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RaftMetrics::new(&members)));
    let scrape = scrape(&registry);

    let mut leaders = 0.0;
    for m in &members {
        let name = match m.name() {
            "" => format!("{:x}", m.id()),
            n => n.to_owned(),
        };
        let name = name.as_str();
        assert_eq!(value(&scrape, "etcd_server_has_leader", name), 1.0);
        let is_leader = value(&scrape, "etcd_server_is_leader", name);
        assert_eq!(is_leader, f64::from(u8::from(m.id() == leader)), "member {name}");
        leaders += is_leader;
        let applied = value(&scrape, "etcd_server_proposals_applied_total", name);
        let committed = value(&scrape, "etcd_server_proposals_committed_total", name);
        assert!(applied >= 20.0, "member {name} applied {applied}");
        assert!(committed >= applied, "member {name}: committed {committed} < applied {applied}");
        let size = value(&scrape, "etcd_mvcc_db_total_size_in_bytes", name);
        assert!(size >= 20.0 * 100.0, "member {name}: db size {size}");
        assert_eq!(value(&scrape, "etcd_server_quota_backend_bytes", name), (2u64 << 30) as f64);
        // Every member fsynced its log for the entries it appended.
        let fsyncs = value(&scrape, "etcd_disk_wal_fsync_duration_seconds_count", name);
        assert!(fsyncs >= 1.0, "member {name}: {fsyncs} fsyncs");
    }
    assert_eq!(leaders, 1.0, "exactly one leader");
    for m in &members {
        m.shutdown().await;
    }
}
