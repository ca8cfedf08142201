//! Three `raft_store` member processes on loopback: a scripted etcdctl
//! session against them (through a follower, so that forwarding is
//! exercised), `member list` and `endpoint status`; the leader killed with
//! SIGKILL during writes; a member that lost its data dir refused; `etcdctl
//! snapshot save` restored into a new cluster; `etcdctl member add` and
//! `member remove`.

use std::process::{Child, Stdio};
use std::time::Duration;

mod support;

#[path = "../../orch-store/tests/etcdctl_session/mod.rs"]
mod etcdctl_session;

use etcdctl_session::{etcdctl, ok};
use orch_core::testing::{wait_for, wait_until};
use support::example_command;

const DEADLINE: Duration = Duration::from_secs(30);

/// A loopback port nobody listens on now (below the ephemeral range, so
/// that no client connection takes it before the member binds it).
fn free_port() -> u16 {
    orch_store::testing::free_loopback_port().unwrap_or_else(|e| panic!("{e}"))
}

struct Member {
    name: String,
    client: String,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl Member {
    /// Where the member's stderr goes (a file, so that a member that logs
    /// much never blocks on a full pipe), beside its data dir.
    fn log(&self) -> std::path::PathBuf {
        self.dir.with_extension("stderr")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

/// Member processes of one cluster; killed (SIGKILL) when dropped, so a
/// failing test leaves none behind.
struct Cluster {
    _dir: tempfile::TempDir,
    /// Arguments every member is started with.
    extra: Vec<String>,
    initial_cluster: String,
    members: Vec<Member>,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        Self::start_with(n, &[])
    }

    /// `n` members, each started with `extra` arguments too.
    fn start_with(n: usize, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let peers: Vec<String> = (0..n).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let initial_cluster =
            peers.iter().enumerate().map(|(i, p)| format!("m{}={p}", i + 1)).collect::<Vec<_>>();
        let mut cluster = Cluster {
            extra: extra.iter().map(|a| a.to_string()).collect(),
            initial_cluster: initial_cluster.join(","),
            members: (0..n)
                .map(|i| Member {
                    name: format!("m{}", i + 1),
                    client: format!("127.0.0.1:{}", free_port()),
                    dir: dir.path().join(format!("m{}", i + 1)),
                    child: None,
                })
                .collect(),
            _dir: dir,
        };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster
    }

    /// Adds a member entry (not started) with fresh ports; returns its
    /// index and peer address.
    fn add_member_entry(&mut self) -> (usize, String) {
        let i = self.members.len();
        let peer = format!("127.0.0.1:{}", free_port());
        let name = format!("m{}", i + 1);
        self.initial_cluster.push_str(&format!(",{name}={peer}"));
        self.members.push(Member {
            dir: self._dir.path().join(&name),
            name,
            client: format!("127.0.0.1:{}", free_port()),
            child: None,
        });
        (i, peer)
    }

    fn spawn(&mut self, i: usize) {
        self.spawn_with(i, &[]);
    }

    fn spawn_with(&mut self, i: usize, args: &[&str]) {
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log())
            .expect("a member log file");
        let child = example_command("raft_store")
            .args(["--name", &m.name, "--listen-client", &m.client])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(args)
            .arg("--data-dir")
            .arg(&m.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the raft_store example starts");
        m.child = Some(child);
    }

    /// Every running member's client address, comma-separated.
    fn endpoints(&self) -> String {
        let running = self.members.iter().filter(|m| m.child.is_some());
        running.map(|m| m.client.as_str()).collect::<Vec<_>>().join(",")
    }

    /// Waits until member `i` answers a linearizable read (so it has a
    /// leader and has caught up).
    async fn wait_ready(&self, i: usize) {
        wait_for(format!("member {i} to be ready"), DEADLINE, || async {
            let (success, _, err) = etcdctl(&self.members[i].client, &["get", "/ready"], "").await;
            if success {
                Ok(())
            } else {
                Err(err)
            }
        })
        .await;
    }

    async fn wait_all_ready(&self) {
        for i in 0..self.members.len() {
            self.wait_ready(i).await;
        }
    }

    /// The index of the member every running member names as leader.
    async fn leader(&self) -> usize {
        wait_for("an agreed leader", DEADLINE, || async {
            let status = ok(&self.endpoints(), &["endpoint", "status", "--write-out=json"]).await;
            let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
            let leaders: Vec<u64> = status
                .as_array()
                .expect("one status per endpoint")
                .iter()
                .map(|s| s["Status"]["leader"].as_u64().unwrap_or(0))
                .collect();
            if leaders.iter().all(|l| *l != 0 && *l == leaders[0]) {
                for s in status.as_array().into_iter().flatten() {
                    if s["Status"]["header"]["member_id"].as_u64() == Some(leaders[0]) {
                        let endpoint = s["Endpoint"].as_str().expect("an endpoint");
                        return Ok(self
                            .members
                            .iter()
                            .position(|m| m.client == endpoint)
                            .expect("the leader is a member"));
                    }
                }
            }
            Err(format!("leaders {leaders:?}"))
        })
        .await
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops member `i` as Ctrl-C does (SIGINT) and returns its exit
    /// status and stderr.
    async fn interrupt(&mut self, i: usize) -> (std::process::ExitStatus, String) {
        let mut child = self.members[i].child.take().expect("a running member");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
        let status = exited(format!("member {i} to stop on Ctrl-C"), &mut child).await;
        (status, self.members[i].log_text())
    }
}

/// Waits for `child` to exit and returns its status.
async fn exited(what: String, child: &mut Child) -> std::process::ExitStatus {
    wait_for(what, DEADLINE, || {
        std::future::ready(child.try_wait().expect("wait").ok_or("running"))
    })
    .await
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// A fresh three-member cluster and the client address of a follower.
async fn three_members() -> (Cluster, String) {
    let cluster = Cluster::start(3);
    cluster.wait_all_ready().await;
    let leader = cluster.leader().await;
    let follower = cluster.members[(leader + 1) % 3].client.clone();
    (cluster, follower)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_put_get_at_revisions_delete_and_compact_through_a_follower() {
    let (_cluster, follower) = three_members().await;
    etcdctl_session::put_get_at_revisions_delete_and_compact(&follower).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_txn_through_a_follower() {
    let (_cluster, follower) = three_members().await;
    etcdctl_session::txn_creates_once(&follower).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_watch_through_a_follower() {
    let (_cluster, follower) = three_members().await;
    etcdctl_session::watch_replays_history_then_follows(&follower).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_leases_through_a_follower() {
    let (_cluster, follower) = three_members().await;
    etcdctl_session::lease_grant_attach_keepalive_revoke(&follower).await;
}

/// `member list` names all three members with their URLs; `endpoint
/// status` has every member agree on one leader and one term; Ctrl-C
/// (SIGINT) stops a member cleanly (exit 0), even with a watch open on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_list_endpoint_status_and_a_clean_stop() {
    let (mut cluster, _) = three_members().await;
    let list = ok(&cluster.members[0].client, &["member", "list"]).await;
    let mut lines: Vec<&str> = list.lines().collect();
    lines.sort_by_key(|l| l.split(", ").nth(2).map(str::to_owned));
    assert_eq!(lines.len(), 3, "{list}");
    for (line, m) in lines.iter().zip(&cluster.members) {
        let fields: Vec<&str> = line.split(", ").collect();
        assert_eq!(fields[1..3], ["started", m.name.as_str()], "{line}");
        assert!(fields[3].starts_with("http://127.0.0.1:"), "peer URL: {line}");
        assert_eq!(fields[4], format!("http://{}", m.client), "client URL: {line}");
    }
    let status = ok(&cluster.endpoints(), &["endpoint", "status", "--write-out=json"]).await;
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    let statuses = status.as_array().expect("one status per endpoint");
    assert_eq!(statuses.len(), 3);
    let cluster_ids: Vec<_> =
        statuses.iter().map(|s| &s["Status"]["header"]["cluster_id"]).collect();
    assert!(cluster_ids.iter().all(|c| *c == cluster_ids[0]), "{status}");
    let terms: Vec<_> = statuses.iter().map(|s| s["Status"]["raftTerm"].as_u64()).collect();
    assert!(terms.iter().all(|t| t.is_some() && *t == terms[0] && *t != Some(0)), "{status}");
    // Ctrl-C stops a member cleanly even with a watch open on it.
    let leader = cluster.leader().await;
    let stopping = (leader + 1) % 3;
    let mut watch =
        etcdctl_session::etcdctl_command(&cluster.members[stopping].client, &["watch", "/w"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcdctl watch runs");
    let stdout = watch.stdout.take().expect("piped stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The watch is open once it has delivered a write (retried: etcdctl
    // may not have registered it when the first put lands).
    wait_until("the watch to deliver a write", DEADLINE, || async {
        ok(&cluster.members[stopping].client, &["put", "/w", "1"]).await;
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if line == "PUT" {
                return true;
            }
        }
        false
    })
    .await;
    let (exit, err) = cluster.interrupt(stopping).await;
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(exit.success(), "a member stops cleanly on Ctrl-C: {exit} {err}");
}

/// The leader is killed with SIGKILL in the middle of a stream of writes:
/// every write etcdctl saw acknowledged is there afterwards, the other two
/// members go on taking writes, and the killed member, restarted on its
/// data dir, catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write_and_it_catches_up() {
    let (mut cluster, _) = three_members().await;
    let leader = cluster.leader().await;
    let mut acknowledged = Vec::new();
    let mut after_kill = 0;
    for i in 0..60 {
        if i == 20 {
            cluster.kill(leader);
        }
        let key = format!("/w/{i:02}");
        let (success, _, _) =
            etcdctl(&cluster.endpoints(), &["put", &key, &i.to_string()], "").await;
        if success {
            acknowledged.push(key);
            after_kill += usize::from(i >= 20);
        }
    }
    assert!(after_kill >= 30, "the two survivors go on: {after_kill} of 40 writes after the kill");
    let survivors = cluster.endpoints();
    let read = ok(&survivors, &["get", "--prefix", "/w/", "--keys-only"]).await;
    let stored: Vec<&str> = read.lines().filter(|l| !l.is_empty()).collect();
    for key in &acknowledged {
        assert!(stored.contains(&key.as_str()), "acknowledged {key} is lost: {stored:?}");
    }
    // The killed member comes back on its data dir and catches up: a
    // serializable read of its own copy has every acknowledged key.
    cluster.spawn(leader);
    cluster.wait_ready(leader).await;
    let own = &cluster.members[leader].client;
    wait_for("the restarted member to catch up", DEADLINE, || async {
        let read = ok(own, &["get", "--prefix", "/w/", "--keys-only", "--consistency=s"]).await;
        let mine: Vec<&str> = read.lines().filter(|l| !l.is_empty()).collect();
        if mine == stored {
            Ok(())
        } else {
            Err(format!("{mine:?}"))
        }
    })
    .await;
}

/// A member whose data dir is lost and that starts again empty is refused
/// by its peers — it exits with an error saying so — instead of rejoining
/// with its votes and log forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_lost_its_data_dir_is_refused() {
    let (mut cluster, _) = three_members().await;
    ok(&cluster.endpoints(), &["put", "/k", "v"]).await;
    let leader = cluster.leader().await;
    let lost = (leader + 1) % 3;
    cluster.kill(lost);
    std::fs::remove_dir_all(&cluster.members[lost].dir).expect("remove the data dir");
    cluster.spawn(lost);
    let mut child = cluster.members[lost].child.take().expect("spawned");
    let status = exited("the member that lost its data dir to exit".into(), &mut child).await;
    let err = cluster.members[lost].log_text();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("lost or replaced its data directory"), "{err}");
    // The other two go on.
    ok(&cluster.endpoints(), &["put", "/k", "w"]).await;
}

/// `etcdctl snapshot save` through a follower, then a new three-member
/// cluster started with `--restore-snapshot`: the same keys at the same
/// revisions, the history before them, the lease; and it takes new writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_saved_with_etcdctl_restores_into_a_new_cluster() {
    let (cluster, follower) = three_members().await;
    ok(&follower, &["put", "/a", "1"]).await; // revision 2
    ok(&follower, &["put", "/b", "2"]).await; // 3
    ok(&follower, &["put", "/a", "3"]).await; // 4
    let lease = ok(&follower, &["lease", "grant", "600"]).await;
    let lease = lease.split_whitespace().nth(1).expect("a lease id").to_string();
    ok(&follower, &["put", "--lease", &lease, "/l", "v"]).await; // 5
    let before = ok(&follower, &["get", "--prefix", "/", "--write-out=json"]).await;
    let saved = tempfile::tempdir().expect("temp dir");
    let file = saved.path().join("backup.db");
    let file = file.to_str().expect("a UTF-8 path");
    ok(&follower, &["snapshot", "save", file]).await;
    drop(cluster);

    let restored = Cluster::start_with(3, &["--restore-snapshot", file]);
    restored.wait_all_ready().await;
    let endpoints = restored.endpoints();
    let after = ok(&endpoints, &["get", "--prefix", "/", "--write-out=json"]).await;
    let kvs = |json: &str| {
        let v: serde_json::Value = serde_json::from_str(json).expect("get JSON");
        (v["header"]["revision"].clone(), v["kvs"].clone())
    };
    assert_eq!(kvs(&after), kvs(&before), "the same keys at the same revisions");
    assert_eq!(ok(&endpoints, &["get", "/a", "--rev=2"]).await, "/a\n1\n", "history kept");
    let leases = ok(&endpoints, &["lease", "list"]).await;
    assert!(leases.contains(&lease), "the lease was restored: {leases}");
    ok(&endpoints, &["put", "/after", "x"]).await;
    let out = ok(&endpoints, &["get", "/after", "--write-out=json"]).await;
    assert!(out.contains("\"mod_revision\":6"), "new writes follow the restored revision: {out}");
}

/// `etcdctl member add` grows the cluster to four (the new member, started
/// with `--initial-cluster-state existing`, catches up), `member remove`
/// shrinks it back to three, and writes go on throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_added_and_removed_with_etcdctl() {
    let (mut cluster, follower) = three_members().await;
    ok(&follower, &["put", "/before", "1"]).await;
    let (new, peer) = cluster.add_member_entry();
    let out = ok(&follower, &["member", "add", "m4", &format!("--peer-urls=http://{peer}")]).await;
    assert!(out.contains("added to cluster"), "{out}");
    assert!(out.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""), "{out}");
    cluster.spawn_with(new, &["--initial-cluster-state", "existing"]);
    cluster.wait_ready(new).await;
    let own = cluster.members[new].client.clone();
    wait_for("the new member to catch up", DEADLINE, || async {
        let read = ok(&own, &["get", "/before", "--consistency=s"]).await;
        if read == "/before\n1\n" {
            Ok(())
        } else {
            Err(format!("{read:?}"))
        }
    })
    .await;
    let list = ok(&own, &["member", "list"]).await;
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(list.lines().any(|l| l.contains(", started, m4, ")), "{list}");

    // Remove a member that is not the one we talk to.
    let m1 = list.lines().find(|l| l.contains(", m1, ")).expect("m1 is listed");
    let id = m1.split(',').next().expect("an ID").trim().to_string();
    let out = ok(&own, &["member", "remove", &id]).await;
    assert!(out.contains("removed from cluster"), "{out}");
    let list = ok(&own, &["member", "list"]).await;
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(!list.contains(", m1, "), "{list}");
    cluster.kill(0);
    // If m1 led, the others elect a new leader first: openraft's followers
    // wait out the leader lease (election_timeout_max, 2 s) and an election
    // timeout (1–2 s), longer after a split vote, which can exceed
    // etcdctl's 5 s command timeout; wait for a linearizable read instead.
    cluster.wait_ready(new).await;
    // Writes through every member that is left: each forwards to the
    // leader, even one added after it started (m4) that it never spoke to.
    for (i, m) in cluster.members.iter().enumerate().filter(|(_, m)| m.child.is_some()) {
        let value = i.to_string();
        let (written, _, err) = etcdctl(&m.client, &["put", "/after", &value], "").await;
        if !written {
            let logs: Vec<String> = cluster
                .members
                .iter()
                .map(|m| format!("--- {} ---\n{}", m.name, m.log_text()))
                .collect();
            panic!("a write through {} failed: {err}\n{}", m.name, logs.join("\n"));
        }
    }
    assert_eq!(ok(&own, &["get", "/after"]).await, "/after\n3\n", "the last write, through m4");
}
