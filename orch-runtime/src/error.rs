//! The one error type of `orch-runtime`.

/// Errors of the runtimes and the node agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A runtime call failed (CRI method name, object, reason).
    #[error("{call} {object}: {reason}")]
    Runtime {
        /// The CRI method, e.g. `StartContainer`.
        call: String,
        /// The sandbox, container or image.
        object: String,
        /// What went wrong.
        reason: String,
    },
    /// A CRI call answered with a gRPC error status, or not within its
    /// timeout (`DeadlineExceeded`), or the runtime's socket could not be
    /// reached (`Unavailable`).
    #[error("{call} {object}: CRI status {code}: {message}")]
    Cri {
        /// The CRI method, e.g. `RunPodSandbox`.
        call: String,
        /// The sandbox, container or image.
        object: String,
        /// The gRPC status code's name, e.g. `Unavailable`, `DeadlineExceeded`.
        code: String,
        /// The runtime's message.
        message: String,
    },
    /// No such sandbox, container or image.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `container 3f2a…`.
        what: String,
    },
    /// The runtime's state directory could not be read or written.
    #[error("runtime state at {path}: {reason}")]
    State {
        /// The file or directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The store or Api failed.
    #[error(transparent)]
    Api(#[from] orch_core::Error),
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
