//! RaftStore's backend quota (etcd's `--quota-backend-bytes`) and its
//! NOSPACE alarm: through the Store trait, across members, across a
//! restart, and through the real `etcdctl` against the member's etcd API.
#![cfg(feature = "raft")]

mod etcdctl_session;

use orch_core::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange, PutRequest, RangeRequest,
    Store, TxnOp, TxnRequest,
};
use orch_core::Error;
use orch_store::{AlarmMember, AlarmType, Alarms, RaftOptions, RaftStore};

/// A quota a few writes fill.
const QUOTA: i64 = 8 * 1024;
/// What a put of a 500-byte value to a 2-byte key adds: key, value and
/// the 256 bytes a revision costs besides.
const PUT_COST: u64 = 2 + 500 + 256;

fn options() -> RaftOptions {
    RaftOptions { quota_backend_bytes: QUOTA, ..RaftOptions::default() }
}

fn big_put() -> PutRequest {
    PutRequest::new("/q", vec![b'v'; 500])
}

fn no_space(r: Result<impl std::fmt::Debug, Error>, what: &str) {
    match r {
        Err(Error::NoSpace(_)) => {}
        other => panic!("{what}: expected NoSpace, got {other:?}"),
    }
}

/// Puts `/q` (a 500-byte value, a new revision each time) until the
/// quota refuses one; returns how many went through.
async fn fill(store: &RaftStore) -> usize {
    for written in 0..100 {
        match store.put(big_put()).await {
            Ok(_) => {}
            Err(Error::NoSpace(why)) => {
                assert!(written > 0, "the first put was refused: {why}");
                return written;
            }
            Err(e) => panic!("put {written}: {e}"),
        }
    }
    panic!("100 puts of 758 bytes each fit a {QUOTA}-byte quota");
}

fn nospace(member_id: u64) -> AlarmMember {
    AlarmMember { member_id, alarm: AlarmType::NoSpace }
}

/// Past the quota a write is refused with NoSpace and the member's NOSPACE
/// alarm is raised; while it is, puts (even small ones), txns with puts
/// and lease grants fail, and reads, deletes, txns without puts and
/// compaction go through; a disarm while still over the quota is undone
/// by the next write that does not fit; compaction frees the old
/// revisions, and after it and a disarm, writes go through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_the_quota_fail_until_compaction_and_disarm() {
    let members = RaftStore::in_process_with(1, None, options()).await.expect("a member");
    let store = &members[0];
    assert_eq!(store.quota_backend_bytes(), Some(QUOTA as u64));
    let written = fill(store).await;
    let size = store.db_size_bytes();
    assert_eq!(size, written as u64 * PUT_COST, "every revision kept, nothing refused");
    assert!(size < QUOTA as u64 && size + PUT_COST >= QUOTA as u64, "{size}");
    assert_eq!(store.alarm_list().await.expect("alarms"), [nospace(store.id())]);

    no_space(store.put(PutRequest::new("/s", "x")).await, "a small put");
    let put_txn = TxnRequest {
        compare: vec![],
        success: vec![TxnOp::Put(PutRequest::new("/s", "x"))],
        failure: vec![],
    };
    no_space(store.txn(put_txn).await, "a txn with a put");
    no_space(store.lease_grant(60, 0).await, "a lease grant");
    assert_eq!(store.db_size_bytes(), size, "nothing refused was written");

    let read = store.range(RangeRequest::new(KeyRange::key("/q"))).await.expect("a read");
    assert_eq!(read.kvs[0].value.len(), 500);
    let read_txn = TxnRequest {
        compare: vec![Compare::new("/q", CompareResult::Greater, CompareTarget::Version(0))],
        success: vec![TxnOp::Range(RangeRequest::new(KeyRange::key("/q")))],
        failure: vec![TxnOp::DeleteRange(DeleteRangeRequest {
            range: KeyRange::key("/s"),
            prev_kv: false,
        })],
    };
    assert!(store.txn(read_txn).await.expect("a txn without puts").succeeded);
    let delete = DeleteRangeRequest { range: KeyRange::key("/q"), prev_kv: false };
    assert_eq!(store.delete_range(delete).await.expect("a delete").deleted, 1);

    // Disarmed while still over: the next write that does not fit raises
    // it again.
    assert!(store.alarm_disarm(nospace(store.id())).await.expect("disarm"));
    assert!(store.alarm_list().await.expect("alarms").is_empty());
    no_space(store.put(big_put()).await, "a put still over the quota");
    assert_eq!(store.alarm_list().await.expect("alarms"), [nospace(store.id())]);

    // Compaction (taken while the alarm is raised) frees the revisions it
    // drops: here all of them, /q being deleted.
    let revision = store.range(RangeRequest::new(KeyRange::key("/q"))).await.expect("read");
    store.compact(revision.header.revision).await.expect("compaction");
    assert_eq!(store.db_size_bytes(), 0);
    no_space(store.put(big_put()).await, "a put before the disarm");
    assert!(store.alarm_disarm(nospace(store.id())).await.expect("disarm"));
    assert!(!store.alarm_disarm(nospace(store.id())).await.expect("disarm again"));
    store.put(big_put()).await.expect("a put after compaction and disarm");
    store.lease_grant(60, 0).await.expect("a lease grant after the disarm");
    store.shutdown().await;
}

/// The alarm a follower's write raises is the cluster's: every member
/// lists it and refuses puts, and every member measures the same size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_agrees_on_the_alarm_and_the_size() {
    let members = RaftStore::in_process_with(3, None, options()).await.expect("members");
    let leader = members[0].wait_for_leader().await.expect("a leader");
    let follower = members.iter().find(|m| m.id() != leader).expect("a follower");
    fill(follower).await;
    for m in &members {
        // A linearizable read first: this member has applied everything.
        assert_eq!(m.alarm_list().await.expect("alarms"), [nospace(follower.id())], "{}", m.id());
        assert_eq!(m.db_size_bytes(), follower.db_size_bytes(), "member {}", m.id());
        no_space(m.put(PutRequest::new("/s", "x")).await, "a put on any member");
    }
    for m in &members {
        m.shutdown().await;
    }
}

/// The alarm lives in the replicated state: a durable member restarted on
/// its directory still has it, and still refuses puts until it is
/// disarmed — recovered from the log, and from a snapshot when the log
/// behind it was discarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alarm_survives_a_restart_of_a_durable_member() {
    let dir = tempfile::tempdir().expect("temp dir");
    let snapshots = RaftOptions { snapshot_entries: 5, logs_kept_after_snapshot: 0, ..options() };
    for (name, options) in [("log", options()), ("snapshot", snapshots)] {
        let data = dir.path().join(name);
        let id = {
            let members = RaftStore::in_process_with(1, Some(&data), options)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            fill(&members[0]).await;
            // Log entries after the alarm's, for a snapshot to cover it.
            for _ in 0..10 {
                no_space(members[0].put(big_put()).await, "a put after the alarm");
            }
            members[0].shutdown().await;
            members[0].id()
        };
        let members = RaftStore::in_process_with(1, Some(&data), options)
            .await
            .unwrap_or_else(|e| panic!("{name}: restart: {e}"));
        let store = &members[0];
        assert_eq!(store.alarm_list().await.expect("alarms"), [nospace(id)], "{name}");
        no_space(store.put(PutRequest::new("/s", "x")).await, "a put after the restart");
        let revision = store.range(RangeRequest::new(KeyRange::key("/q"))).await.expect("read");
        store.compact(revision.header.revision).await.expect("compaction");
        assert!(store.alarm_disarm(nospace(id)).await.expect("disarm"), "{name}");
        store.put(big_put()).await.unwrap_or_else(|e| panic!("{name}: put after disarm: {e}"));
        store.shutdown().await;
    }
}

/// Serves `store`'s etcd API on a loopback port until the test's runtime
/// ends; returns its `host:port`.
async fn serve(store: &RaftStore) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(store.etcd_api().serve(listener, std::future::pending()));
    addr.to_string()
}

/// The number after `"field":` in etcdctl's JSON output.
fn json_number(json: &str, field: &str) -> u64 {
    let at = json.find(&format!("\"{field}\":")).unwrap_or_else(|| panic!("no {field}: {json}"));
    let digits: String = json[at + field.len() + 3..]
        .chars()
        .skip_while(|c| c.is_whitespace())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or_else(|e| panic!("{field} in {json}: {e}"))
}

/// What an etcd operator sees: `etcdctl put` fails with "database space
/// exceeded", `alarm list` prints the member's NOSPACE alarm, `endpoint
/// status` the database size and the alarm; a put still fails after
/// `compaction` alone, and goes through after `alarm disarm`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_sees_the_nospace_alarm_and_disarms_it() {
    use etcdctl_session::{etcdctl, ok};

    let members = RaftStore::in_process_with(1, None, options()).await.expect("a member");
    let store = &members[0];
    let addr = serve(store).await;
    let value = "v".repeat(500);
    let refusal = 'fill: {
        for _ in 0..100 {
            let (success, out, err) = etcdctl(&addr, &["put", "/q", &value], "").await;
            if !success {
                break 'fill err;
            }
            assert_eq!(out, "OK\n");
        }
        panic!("100 etcdctl puts fit a {QUOTA}-byte quota");
    };
    assert!(refusal.contains("etcdserver: mvcc: database space exceeded"), "{refusal}");
    let alarm = format!("memberID:{} alarm:NOSPACE", store.id());
    let listed = ok(&addr, &["alarm", "list"]).await;
    assert_eq!(listed.trim_end(), alarm, "{listed:?}");
    let status = ok(&addr, &["endpoint", "status", "-w", "json"]).await;
    assert_eq!(json_number(&status, "dbSize"), store.db_size_bytes(), "{status}");
    assert!(status.contains(&alarm), "Status lists the alarm in its errors: {status}");

    let revision = json_number(&ok(&addr, &["get", "/q", "-w", "json"]).await, "revision");
    let compacted = ok(&addr, &["compaction", &revision.to_string()]).await;
    assert_eq!(compacted, format!("compacted revision {revision}\n"));
    let status = ok(&addr, &["endpoint", "status", "-w", "json"]).await;
    assert_eq!(json_number(&status, "dbSize"), PUT_COST, "only /q's last revision is left");
    let (success, _, err) = etcdctl(&addr, &["put", "/q", "small"], "").await;
    assert!(!success && err.contains("database space exceeded"), "the alarm holds: {err}");

    let disarmed = ok(&addr, &["alarm", "disarm"]).await;
    assert_eq!(disarmed.trim_end(), alarm, "{disarmed:?}");
    assert_eq!(ok(&addr, &["put", "/q", &value]).await, "OK\n");
    assert_eq!(ok(&addr, &["alarm", "list"]).await, "");
    store.shutdown().await;
}

/// A client of the etcd API (etcd-client, as `EtcdStore`) gets the same
/// error the Store trait gives in process.
#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_client_gets_no_space() {
    let members = RaftStore::in_process_with(1, None, options()).await.expect("a member");
    let addr = serve(&members[0]).await;
    let client =
        orch_store::EtcdStore::connect(&[format!("http://{addr}")]).await.expect("connect");
    fill(&members[0]).await;
    no_space(client.put(PutRequest::new("/s", "x")).await, "a put through etcd-client");
    no_space(client.lease_grant(60, 0).await, "a lease grant through etcd-client");
    members[0].shutdown().await;
}
