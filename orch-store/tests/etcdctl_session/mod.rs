//! A scripted `etcdctl` (v3 API, the distribution's `etcd-client` package)
//! session, shared by the store's tests (a server in the test process) and
//! the examples' (three `raft_store` member processes): what an operator
//! types works and prints what it prints against etcd. Each case wants a
//! fresh store (it checks revisions). If etcdctl is missing, the cases fail
//! and say so.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use orch_core::testing::wait_for;

pub fn etcdctl_command(endpoints: &str, args: &[&str]) -> Command {
    let mut c = Command::new("etcdctl");
    c.env("ETCDCTL_API", "3")
        // host:port, not http://host:port: for `endpoint status` etcdctl
        // sends the endpoint verbatim as the HTTP/2 :authority, and a URL
        // there is a protocol error to hyper (the server under tonic).
        .arg(format!("--endpoints={endpoints}"))
        .arg("--command-timeout=10s")
        .args(args);
    c
}

/// Runs etcdctl to completion: (success, stdout, stderr).
pub async fn etcdctl(endpoints: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut command = etcdctl_command(endpoints, args);
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run etcdctl (install the etcd-client package): {e}")
            });
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).expect("etcdctl reads its input");
        }
        let out = child.wait_with_output().expect("etcdctl finishes");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("etcdctl task")
}

/// Runs etcdctl and returns its output; panics with its stderr if it fails.
pub async fn ok(endpoints: &str, args: &[&str]) -> String {
    let (success, out, err) = etcdctl(endpoints, args, "").await;
    assert!(success, "etcdctl {args:?} failed: {err}");
    out
}

pub async fn put_get_at_revisions_delete_and_compact(addr: &str) {
    // The store starts at revision 1, as etcd: the first put is revision 2.
    assert_eq!(ok(addr, &["put", "/a", "1"]).await, "OK\n");
    assert_eq!(ok(addr, &["put", "/a", "2"]).await, "OK\n");
    assert_eq!(ok(addr, &["put", "/b", "3"]).await, "OK\n");
    assert_eq!(ok(addr, &["get", "/a"]).await, "/a\n2\n");
    assert_eq!(ok(addr, &["get", "/a", "--rev=2"]).await, "/a\n1\n");
    assert_eq!(ok(addr, &["get", "--prefix", "/"]).await, "/a\n2\n/b\n3\n");
    assert_eq!(ok(addr, &["get", "--prefix", "/", "--keys-only"]).await, "/a\n\n/b\n\n");
    assert_eq!(ok(addr, &["get", "--prefix", "/", "--limit=1"]).await, "/a\n2\n");
    assert_eq!(ok(addr, &["get", "--prefix", "/", "--order=DESCEND"]).await, "/b\n3\n/a\n2\n");
    assert_eq!(ok(addr, &["del", "/a"]).await, "1\n");
    assert_eq!(ok(addr, &["get", "/a"]).await, "");
    assert_eq!(ok(addr, &["compact", "4"]).await, "compacted revision 4\n");
    let (success, _, err) = etcdctl(addr, &["get", "/a", "--rev=2"], "").await;
    assert!(!success, "a read below the compact revision fails");
    assert!(err.contains("required revision has been compacted"), "{err}");
}

pub async fn txn_creates_once(addr: &str) {
    let script = "create(\"/k\") = \"0\"\n\nput /k created\n\nget /k\n\n";
    let (success, out, err) = etcdctl(addr, &["txn"], script).await;
    assert!(success, "{err}");
    assert_eq!(out, "SUCCESS\n\nOK\n");
    let (success, out, err) = etcdctl(addr, &["txn"], script).await;
    assert!(success, "{err}");
    assert_eq!(out, "FAILURE\n\n/k\ncreated\n");
}

pub async fn watch_replays_history_then_follows(addr: &str) {
    ok(addr, &["put", "/w/1", "a"]).await; // revision 2
    let mut child = etcdctl_command(addr, &["watch", "--prefix", "/w/", "--rev=2", "--prev-kv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run etcdctl (install the etcd-client package)");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    ok(addr, &["put", "/w/1", "b"]).await;
    ok(addr, &["del", "/w/1"]).await;
    ok(addr, &["put", "/other", "x"]).await;
    // etcdctl prints an event's type, its previous kv (key, value), then
    // its kv: PUT /w/1 a; PUT /w/1 b (prev a); DELETE /w/1 (prev b).
    let want =
        ["PUT", "/w/1", "a", "PUT", "/w/1", "a", "/w/1", "b", "DELETE", "/w/1", "b", "/w/1", ""];
    let mut got = Vec::new();
    wait_for("the watch's output", Duration::from_secs(20), || {
        got.extend(lines.try_iter());
        let state = if got.len() >= want.len() { Ok(()) } else { Err(format!("{got:?}")) };
        std::future::ready(state)
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, want);
}

pub async fn lease_grant_attach_keepalive_revoke(addr: &str) {
    let out = ok(addr, &["lease", "grant", "60"]).await;
    // "lease 694d71ddc3b1d60a granted with TTL(60s)"
    let id = out.split_whitespace().nth(1).expect("a lease id").to_string();
    assert!(out.ends_with("granted with TTL(60s)\n"), "{out}");
    assert_eq!(ok(addr, &["put", "--lease", &id, "/l", "v"]).await, "OK\n");
    let out = ok(addr, &["lease", "keep-alive", "--once", &id]).await;
    assert_eq!(out, format!("lease {id} keepalived with TTL(60)\n"));
    let out = ok(addr, &["lease", "timetolive", "--keys", &id]).await;
    assert!(out.contains("granted with TTL(60s)") && out.contains("attached keys([/l])"), "{out}");
    assert_eq!(ok(addr, &["lease", "list"]).await, format!("found 1 leases\n{id}\n"));
    assert_eq!(ok(addr, &["lease", "revoke", &id]).await, format!("lease {id} revoked\n"));
    assert_eq!(ok(addr, &["get", "/l"]).await, "");
    let out = ok(addr, &["lease", "timetolive", &id]).await;
    assert!(out.contains("already expired"), "{out}");
}
