//! The one error type of `orch-core`.
//!
//! Every variant says what went wrong and for which object or key. Objects are
//! named as `{plural}/{namespace}/{name}` (cluster-scoped: `{plural}/{name}`),
//! the way `kubectl` names them in its messages.

/// Errors returned by the object model, the [`Store`](crate::store::Store)
/// trait, the typed [`Api`](crate::api::Api), selectors, quantities and the
/// manifest loader.
///
/// The store variants follow etcd v3's gRPC errors (`ErrCompacted`,
/// `ErrFutureRev`, `ErrLeaseNotFound`, …); the API variants follow
/// Kubernetes' status reasons (`NotFound`, `AlreadyExists`, `Conflict`,
/// `Invalid`, `Gone`, `RequestEntityTooLarge`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- store (etcd v3) ----
    /// The requested revision has been compacted away (etcd `ErrCompacted`).
    /// A watcher that gets this must relist and watch from the list's revision.
    #[error(
        "required revision {requested} has been compacted; compact revision is {compact_revision}"
    )]
    Compacted {
        /// The revision that was asked for.
        requested: i64,
        /// The store's compact revision: the oldest revision still readable.
        compact_revision: i64,
    },
    /// The requested revision is newer than the store's current revision
    /// (etcd `ErrFutureRev`).
    #[error("required revision {requested} is a future revision; current revision is {current}")]
    FutureRevision {
        /// The revision that was asked for.
        requested: i64,
        /// The store's current revision.
        current: i64,
    },
    /// No lease with this ID exists, or it has expired (etcd `ErrLeaseNotFound`).
    #[error("lease {0:#x} not found")]
    LeaseNotFound(i64),
    /// A lease with this ID already exists (etcd `ErrLeaseExist`).
    #[error("lease {0:#x} already exists")]
    LeaseExists(i64),
    /// The request is malformed for the store: an empty key, a duplicate key
    /// among a txn's writes (etcd `ErrDuplicateKey`), a TTL out of range, …
    #[error("invalid store request: {0}")]
    InvalidRequest(String),
    /// The store is closed or its backend failed; the operation may be retried
    /// against another member.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store's database reached its space quota (etcd `ErrNoSpace`,
    /// "mvcc: database space exceeded", with its NOSPACE alarm): writes that
    /// add data (puts, txns with puts, lease grants) fail until old
    /// revisions are compacted away and the alarm is disarmed; reads,
    /// deletes, compaction and lease revocation keep working.
    #[error("database space exceeded: {0}")]
    NoSpace(String),
    /// The value at `key` could not be encrypted or decrypted by the
    /// store's encryption at rest (kube-apiserver's
    /// `EncryptionConfiguration`): no configured provider reads its prefix,
    /// or its authentication tag does not match (a wrong key, a tampered
    /// value, or a value copied from another key).
    #[error("encryption at rest: value at {key}: {reason}")]
    Encryption {
        /// The store key, lossily as UTF-8.
        key: String,
        /// What failed.
        reason: String,
    },

    // ---- API (Kubernetes semantics) ----
    /// The object does not exist (HTTP 404, reason `NotFound`).
    #[error("{object} not found")]
    NotFound {
        /// `{plural}/{namespace}/{name}`.
        object: String,
    },
    /// An object of this name already exists (HTTP 409, reason `AlreadyExists`).
    #[error("{object} already exists")]
    AlreadyExists {
        /// `{plural}/{namespace}/{name}`.
        object: String,
    },
    /// The object was modified since the given resourceVersion was read
    /// (HTTP 409, reason `Conflict`): read it again and retry.
    #[error("operation on {object} conflicts: resourceVersion {expected} is stale (current {actual}); read the object again and retry")]
    Conflict {
        /// `{plural}/{namespace}/{name}`.
        object: String,
        /// The resourceVersion the caller sent.
        expected: String,
        /// The object's current resourceVersion (empty if it is gone).
        actual: String,
    },
    /// The object failed validation (HTTP 422, reason `Invalid`).
    #[error("{object} is invalid: {field}: {reason}")]
    Invalid {
        /// `{plural}/{namespace}/{name}`, or the manifest document it came from.
        object: String,
        /// The JSON path of the offending field, e.g. `metadata.labels["app"]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The serialized object exceeds the size limit (HTTP 413).
    #[error("{object} is too large: {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// `{plural}/{namespace}/{name}`.
        object: String,
        /// Serialized size in bytes.
        size_bytes: usize,
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// A watch asked for a resourceVersion that is no longer available
    /// (HTTP 410, reason `Expired`): relist, then watch from the list's version.
    #[error("watch of {resource} from resourceVersion {resource_version} expired (oldest available is {compact_revision}); relist")]
    Gone {
        /// The plural resource name.
        resource: String,
        /// The resourceVersion the watch started from.
        resource_version: String,
        /// The store's compact revision.
        compact_revision: i64,
    },
    /// An admission hook denied the operation.
    #[error("admission hook {hook} denied {operation} of {object}: {reason}")]
    AdmissionDenied {
        /// The hook's name.
        hook: String,
        /// `CREATE`, `UPDATE` or `DELETE`.
        operation: String,
        /// `{plural}/{namespace}/{name}`.
        object: String,
        /// The hook's reason.
        reason: String,
    },
    /// A stored value could not be decoded into the requested kind.
    #[error("{object}: stored value is not a valid {kind}: {source}")]
    Decode {
        /// The store key or object name.
        object: String,
        /// The kind expected.
        kind: String,
        /// The decoder's error, with the field path.
        #[source]
        source: serde_json::Error,
    },
    /// A request about an object is malformed where the object model reads
    /// it: a patch that does not apply (a failed JSON patch `test`, a
    /// strategic merge patch directive that makes no sense), or fields
    /// the kind does not have under strict decoding (kube-apiserver's
    /// `fieldValidation=Strict`). Kubernetes answers these with a 400
    /// `BadRequest`.
    #[error("{object}: {reason}")]
    BadRequest {
        /// The object, as `namespace/name` or `name`.
        object: String,
        /// What is wrong, e.g. `strict decoding error: unknown field "spec.foo"`.
        reason: String,
    },
    /// An API server refused the caller: it is not authenticated (401) or
    /// not authorized (403: RBAC, NodeRestriction).
    #[error("{object}: forbidden: {message}")]
    Forbidden {
        /// What was asked for, e.g. `nodes/node-2`.
        object: String,
        /// The server's message.
        message: String,
    },
    /// A label or field selector could not be parsed or uses an unsupported field.
    #[error("invalid selector {selector:?}: {reason}")]
    Selector {
        /// The selector text.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Kubernetes quantity ("250m", "128Mi", "2e3") could not be parsed.
    #[error("invalid quantity {quantity:?}: {reason}")]
    Quantity {
        /// The quantity text.
        quantity: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest document could not be decoded.
    #[error("manifest document {document}{}: {path}: {message}", describe_object(.kind, .name))]
    Manifest {
        /// Zero-based index of the document in its stream.
        document: usize,
        /// The document's kind, if it got that far.
        kind: Option<String>,
        /// The document's metadata.name, if it got that far.
        name: Option<String>,
        /// Field path inside the document (`.` for the document itself).
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn describe_object(kind: &Option<String>, name: &Option<String>) -> String {
    match (kind, name) {
        (Some(k), Some(n)) => format!(" ({k} {n})"),
        (Some(k), None) => format!(" ({k})"),
        (None, Some(n)) => format!(" ({n})"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True for [`Error::Conflict`] and [`Error::AlreadyExists`] (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. } | Error::AlreadyExists { .. })
    }

    /// True for errors that mean "start over from a fresh list":
    /// [`Error::Compacted`] and [`Error::Gone`].
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::Compacted { .. } | Error::Gone { .. })
    }
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
