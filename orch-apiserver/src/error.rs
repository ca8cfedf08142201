//! The one error type of `orch-apiserver` (what a request can meet is a
//! [`Status`](crate::status::Status), not an `Error`).

/// What can go wrong running the API server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener failed (accepting connections, or its address).
    #[error("serving the API on {addr}: {source}")]
    Serve {
        /// The address served, as far as it is known.
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// A key or certificate could not be made or read.
    #[error("{what}: {reason}")]
    Certificate {
        /// Which one (`the CA`, `the serving certificate`, …).
        what: String,
        /// Why.
        reason: String,
    },
    /// A line of a token file (`--token-auth-file`) is malformed.
    #[error("token file line {line}: {reason}")]
    TokenFile {
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The audit log file could not be opened.
    #[error("audit log {path}: {source}")]
    AuditLog {
        /// Its path.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig could not be read, or a client not be made from it.
    #[error("kubeconfig: {reason}")]
    Kubeconfig {
        /// What is wrong.
        reason: String,
    },
    /// The bootstrap RBAC roles could not be written.
    #[error("creating the bootstrap RBAC roles: {0}")]
    Bootstrap(String),
}
