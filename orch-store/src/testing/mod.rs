//! Test fixtures (feature `testing`), for orch's tests and an embedder's:
//! loopback ports that no other test takes, and (with feature `etcd`) a
//! real etcd started on loopback.

#[cfg(feature = "etcd")]
mod etcd_process;
mod loopback;

#[cfg(feature = "etcd")]
pub use etcd_process::EtcdProcess;
pub use loopback::free_loopback_port;
