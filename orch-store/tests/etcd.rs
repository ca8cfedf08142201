//! The Store conformance suite against a real etcd (the distribution's
//! `etcd-server`), started on loopback by this harness: one etcd per case,
//! so that compaction cases have the store to themselves. If etcd cannot
//! start, the case fails and says why.
#![cfg(feature = "etcd")]

use std::sync::Arc;

use async_trait::async_trait;
use orch_core::store::*;
use orch_core::Result;
use orch_store::testing::EtcdProcess;
use orch_store::EtcdStore;

/// An EtcdStore that owns its etcd process.
struct Managed {
    store: EtcdStore,
    _etcd: EtcdProcess,
}

#[async_trait]
impl Store for Managed {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.store.range(req).await
    }
    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        self.store.put(req).await
    }
    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        self.store.delete_range(req).await
    }
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        self.store.txn(req).await
    }
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        self.store.watch(req).await
    }
    async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrant> {
        self.store.lease_grant(ttl, id).await
    }
    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        self.store.lease_keep_alive(id).await
    }
    async fn lease_revoke(&self, id: i64) -> Result<()> {
        self.store.lease_revoke(id).await
    }
    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        self.store.lease_time_to_live(id, keys).await
    }
    async fn leases(&self) -> Result<Vec<i64>> {
        self.store.leases().await
    }
    async fn compact(&self, revision: i64) -> Result<()> {
        self.store.compact(revision).await
    }
}

orch_core::store_conformance_tests!(async {
    let etcd = EtcdProcess::start(None).await.unwrap_or_else(|e| panic!("{e}"));
    let store = etcd.connect().await.unwrap_or_else(|e| panic!("{e}"));
    Arc::new(Managed { store, _etcd: etcd })
});
