//! orch-core: the object model, the `Store` trait and the typed `Api` of orch.
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod error;
pub mod store;

pub use error::{Error, Result};
