//! orch-apiserver: the Kubernetes REST API over any orch
//! [`Store`](orch_core::store::Store), as kube-apiserver serves it, so that
//! `kubectl` and Kubernetes' client libraries drive an orch cluster.
//!
//! * [`ApiServer`]: the paths of the built-in kinds and any registered
//!   [`Resource`](orch_core::Resource): get, list (label and field
//!   selectors, limit/continue), watch (chunked JSON lines), create, update,
//!   patch (JSON merge patch, JSON patch), delete, deletecollection, the
//!   `status` subresource — each through the kind's typed
//!   [`Api`](orch_core::Api), so validation, finalizers and graceful
//!   deletion hold as they do in process. Errors are `metav1.Status`
//!   objects ([`status`]).
//! * [`discovery`]: `/version`, and `/api` and `/apis` as aggregated
//!   discovery (`apidiscovery.k8s.io/v2`), with the legacy per-group-version
//!   resource lists.
//! * [`table`]: server-side `Table` output (`meta.k8s.io/v1`), the columns
//!   `kubectl get` prints.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use orch_apiserver::ApiServer;
//! use tokio_util::sync::CancellationToken;
//!
//! let store = Arc::new(orch_store::MemStore::new());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let addr = listener.local_addr().unwrap();
//! let stop = CancellationToken::new();
//! let server = tokio::spawn(ApiServer::new(store).builtin_kinds().serve(listener, stop.clone()));
//! // kubectl --server http://{addr} get pods
//! # let _ = addr;
//! stop.cancel();
//! server.await.unwrap().unwrap();
//! # });
//! ```

pub mod access_review;
pub mod audit;
pub mod authn;
pub mod client;
pub mod discovery;
mod error;
mod handlers;
pub mod kubeconfig;
pub mod logs;
pub mod openapi;
pub mod patch;
pub mod pki;
pub mod pod_subresources;
pub mod protobuf;
pub mod rbac;
pub mod resources;
pub mod routes;
pub mod scale;
mod server;
pub mod status;
pub mod table;
pub mod tls;

pub use audit::AuditLog;
pub use authn::{Authenticator, User};
pub use client::{Client, ClientConfig};
pub use error::Error;
pub use kubeconfig::kubeconfig;
pub use logs::{LogRequest, PodLogs};
pub use server::{ApiServer, MAX_REQUEST_BYTES};
