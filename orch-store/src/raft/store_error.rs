//! [`StoreError`]: the store's errors in a form that serializes, as the
//! state machine records them in what it applied and as they travel between
//! members, with the conversions from and to [`Error`].

use orch_core::Error;
use serde::{Deserialize, Serialize};

/// The store's errors, as they travel between members (the store only
/// returns these; anything else arrives as `Unavailable` with its text).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum StoreError {
    Compacted { requested: i64, compact_revision: i64 },
    FutureRevision { requested: i64, current: i64 },
    LeaseNotFound(i64),
    LeaseExists(i64),
    InvalidRequest(String),
    Unavailable(String),
    NoSpace(String),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> StoreError {
        match e {
            Error::Compacted { requested, compact_revision } => {
                StoreError::Compacted { requested, compact_revision }
            }
            Error::FutureRevision { requested, current } => {
                StoreError::FutureRevision { requested, current }
            }
            Error::LeaseNotFound(id) => StoreError::LeaseNotFound(id),
            Error::LeaseExists(id) => StoreError::LeaseExists(id),
            Error::InvalidRequest(why) => StoreError::InvalidRequest(why),
            Error::Unavailable(why) => StoreError::Unavailable(why),
            Error::NoSpace(why) => StoreError::NoSpace(why),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Compacted { requested, compact_revision } => {
                Error::Compacted { requested, compact_revision }
            }
            StoreError::FutureRevision { requested, current } => {
                Error::FutureRevision { requested, current }
            }
            StoreError::LeaseNotFound(id) => Error::LeaseNotFound(id),
            StoreError::LeaseExists(id) => Error::LeaseExists(id),
            StoreError::InvalidRequest(why) => Error::InvalidRequest(why),
            StoreError::Unavailable(why) => Error::Unavailable(why),
            StoreError::NoSpace(why) => Error::NoSpace(why),
        }
    }
}
