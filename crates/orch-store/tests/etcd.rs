//! The Store conformance suite against a real etcd (the distribution's
//! `etcd-server`), started on loopback by this harness: one etcd per case,
//! so that compaction cases have the store to themselves. If etcd cannot
//! start, the case fails and says why.
#![cfg(feature = "etcd")]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orch_core::store::*;
use orch_core::Result;
use orch_store::EtcdStore;

/// A running etcd, killed (and its data removed) on drop.
struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    endpoint: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn start_etcd() -> (Etcd, EtcdStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (client, peer) = (free_port(), free_port());
    let endpoint = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(dir.path().join("etcd.log")).expect("log file");
    let child = Command::new("etcd")
        .args(["--name", "conformance", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &endpoint, "--advertise-client-urls", &endpoint])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("conformance={peer_url}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start etcd (install the etcd-server package): {e}"));
    let etcd = Etcd { child, _dir: dir, endpoint: endpoint.clone() };
    let start = Instant::now();
    loop {
        if let Ok(store) = EtcdStore::connect(std::slice::from_ref(&etcd.endpoint)).await {
            if store.range(RangeRequest::new(KeyRange::key("/ping"))).await.is_ok() {
                return (etcd, store);
            }
        }
        if start.elapsed() > Duration::from_secs(30) {
            let log =
                std::fs::read_to_string(etcd._dir.path().join("etcd.log")).unwrap_or_default();
            panic!("etcd at {endpoint} did not answer within 30 s; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An EtcdStore that owns its etcd process.
struct Managed {
    store: EtcdStore,
    _etcd: Etcd,
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
    let (etcd, store) = start_etcd().await;
    Arc::new(Managed { store, _etcd: etcd })
});
