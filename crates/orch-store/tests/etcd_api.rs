//! The Store conformance suite through etcd's own wire protocol: an
//! `EtcdStore` (the etcd-client crate) talking to an `EtcdApiServer` that
//! serves a `MemStore` on a loopback port, one server per case.
#![cfg(all(feature = "etcd", feature = "etcd-api"))]

use std::sync::Arc;

use orch_core::store::Store;
use orch_store::{EtcdApiServer, EtcdStore, MemStore, MemberInfo};

async fn served_mem_store() -> Arc<dyn Store> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("bound address");
    let server = EtcdApiServer::new(Arc::new(MemStore::new()), MemberInfo::standalone("m1", addr));
    tokio::spawn(server.serve(listener, std::future::pending()));
    let store = EtcdStore::connect(&[format!("http://{addr}")]).await.expect("connects");
    Arc::new(store)
}

orch_core::store_conformance_tests!(served_mem_store());
