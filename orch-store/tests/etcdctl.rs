//! The scripted `etcdctl` session (see `etcdctl_session`) against an
//! `EtcdApiServer` serving a `MemStore` on loopback.
#![cfg(feature = "etcd-api")]

mod etcdctl_session;

use std::net::SocketAddr;
use std::sync::Arc;

use etcdctl_session::ok;
use orch_store::{EtcdApiServer, MemStore, MemberInfo};

/// Serves a fresh MemStore on a loopback port until the test's runtime
/// ends; returns its `host:port`.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("bound address");
    let server = EtcdApiServer::new(Arc::new(MemStore::new()), MemberInfo::standalone("m1", addr));
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_at_revisions_delete_and_compact() {
    etcdctl_session::put_get_at_revisions_delete_and_compact(&serve().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_creates_once() {
    etcdctl_session::txn_creates_once(&serve().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replays_history_then_follows() {
    etcdctl_session::watch_replays_history_then_follows(&serve().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_grant_attach_keepalive_revoke() {
    etcdctl_session::lease_grant_attach_keepalive_revoke(&serve().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_list_and_endpoint_status() {
    let addr = serve().await;
    let member = MemberInfo::standalone("m1", addr.parse::<SocketAddr>().expect("host:port"));
    let id = format!("{:x}", member.member_id);
    let out = ok(&addr, &["member", "list"]).await;
    assert_eq!(out, format!("{id}, started, m1, , http://{addr}, false\n"));
    let out = ok(&addr, &["endpoint", "status"]).await;
    assert!(out.starts_with(&format!("{addr}, {id}, orch-")), "{out}");
    assert!(out.contains(", true, false,"), "the member is its own leader: {out}");
}
