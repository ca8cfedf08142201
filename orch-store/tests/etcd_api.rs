//! The Store conformance suite through etcd's own wire protocol: an
//! `EtcdStore` (the etcd-client crate) talking to an `EtcdApiServer` that
//! serves a `MemStore` — and, with feature `raft`, a three-member
//! `RaftStore` — on a loopback port, one server per case.
#![cfg(all(feature = "etcd", feature = "etcd-api"))]

use std::sync::Arc;

use orch_core::store::Store;
use orch_store::{EtcdApiServer, EtcdStore, MemStore, MemberInfo};

/// Serves `store` on a loopback port; returns an EtcdStore client of it.
async fn served(store: Arc<dyn Store>) -> Arc<dyn Store> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("bound address");
    let server = EtcdApiServer::new(store, MemberInfo::standalone("m1", addr));
    tokio::spawn(server.serve(listener, std::future::pending()));
    let client = EtcdStore::connect(&[format!("http://{addr}")]).await.expect("connects");
    Arc::new(client)
}

mod mem_store {
    use super::*;

    orch_core::store_conformance_tests!(served(Arc::new(MemStore::new())));
}

#[cfg(feature = "raft")]
mod raft_store {
    use super::*;

    async fn three_members() -> Arc<dyn Store> {
        let members = orch_store::RaftStore::in_process(3).await.unwrap_or_else(|e| panic!("{e}"));
        served(Arc::new(members[1].clone())).await
    }

    orch_core::store_conformance_tests!(three_members());
}
