//! orch-apiserver: the Kubernetes REST API over any orch
//! [`Store`](orch_core::store::Store), as kube-apiserver serves it, so that
//! `kubectl` and Kubernetes' client libraries drive an orch cluster.
//!
//! * [`discovery`]: `/version`, and `/api` and `/apis` as aggregated
//!   discovery (`apidiscovery.k8s.io/v2`), with the legacy per-group-version
//!   resource lists.
//! * [`table`]: server-side `Table` output (`meta.k8s.io/v1`), the columns
//!   `kubectl get` prints.

pub mod discovery;
pub mod table;
