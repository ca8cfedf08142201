//! A client of an orch (or any Kubernetes) API server, as kube-rs'
//! `Client`: made from a kubeconfig, it speaks HTTPS with the user's
//! client certificate or bearer token, and is what `Api<K>` runs over in a
//! process that is not the API server's. It is a
//! [`Store`] whose
//! [`object_api`](orch_core::store::Store::object_api) is itself: hand it
//! to anything built on `Arc<dyn Store>` — `Api<K>`, informers,
//! controllers, the scheduler, a node agent — and each call becomes a
//! REST request the server authenticates, authorizes (RBAC, node
//! restriction), admits and stores. Its key-value methods answer
//! [`Error::Unavailable`](orch_core::Error::Unavailable): an API server
//! serves objects, not keys.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use orch_core::{Api, Pod};
//!
//! let text = std::fs::read_to_string("/tmp/orch.kubeconfig")?;
//! let client = orch_apiserver::Client::from_kubeconfig(&text)?;
//! let pods: Api<Pod> = Api::namespaced(Arc::new(client), "default");
//! for pod in pods.list(&Default::default()).await?.items {
//!     println!("{}", pod.metadata.name);
//! }
//! # Ok(()) }
//! ```

mod config;
mod http;
mod objects;

use std::sync::Arc;

use async_trait::async_trait;
use orch_core::store::{
    DeleteRangeRequest, DeleteRangeResponse, LeaseGrant, LeaseTimeToLive, PutRequest, PutResponse,
    RangeRequest, RangeResponse, Store, TxnRequest, TxnResponse, WatchRequest, WatchStream,
};

pub use config::ClientConfig;

use crate::Error;

/// A client of an API server; cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<http::Http>,
    namespace: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("server", &self.inner.server).finish()
    }
}

impl Client {
    /// A client for the current context of the kubeconfig `text`.
    ///
    /// Errors: [`Error::Kubeconfig`] for a kubeconfig that cannot be read
    /// or whose certificates cannot be used.
    pub fn from_kubeconfig(text: &str) -> Result<Client, Error> {
        Self::new(ClientConfig::from_kubeconfig(text)?)
    }

    /// A client for `config`.
    ///
    /// Errors: [`Error::Kubeconfig`] for certificates that cannot be used,
    /// or a server URL that is neither `http://` nor `https://`.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let namespace = config.namespace.clone();
        Ok(Client { inner: Arc::new(http::Http::new(config)?), namespace })
    }

    /// The namespace of the kubeconfig's context (`default` if it names
    /// none), for `Api::namespaced`.
    pub fn default_namespace(&self) -> &str {
        &self.namespace
    }
}

fn not_a_kv_store<T>() -> orch_core::Result<T> {
    Err(orch_core::Error::Unavailable(
        "an API server client serves objects through Api<K>, not keys".into(),
    ))
}

#[async_trait]
impl Store for Client {
    async fn range(&self, _: RangeRequest) -> orch_core::Result<RangeResponse> {
        not_a_kv_store()
    }

    async fn put(&self, _: PutRequest) -> orch_core::Result<PutResponse> {
        not_a_kv_store()
    }

    async fn delete_range(&self, _: DeleteRangeRequest) -> orch_core::Result<DeleteRangeResponse> {
        not_a_kv_store()
    }

    async fn txn(&self, _: TxnRequest) -> orch_core::Result<TxnResponse> {
        not_a_kv_store()
    }

    async fn watch(&self, _: WatchRequest) -> orch_core::Result<WatchStream> {
        not_a_kv_store()
    }

    async fn lease_grant(&self, _: i64, _: i64) -> orch_core::Result<LeaseGrant> {
        not_a_kv_store()
    }

    async fn lease_keep_alive(&self, _: i64) -> orch_core::Result<i64> {
        not_a_kv_store()
    }

    async fn lease_revoke(&self, _: i64) -> orch_core::Result<()> {
        not_a_kv_store()
    }

    async fn lease_time_to_live(&self, _: i64, _: bool) -> orch_core::Result<LeaseTimeToLive> {
        not_a_kv_store()
    }

    async fn leases(&self) -> orch_core::Result<Vec<i64>> {
        not_a_kv_store()
    }

    async fn compact(&self, _: i64) -> orch_core::Result<()> {
        not_a_kv_store()
    }

    fn object_api(&self) -> Option<&dyn orch_core::api::ObjectApi> {
        Some(self)
    }
}
