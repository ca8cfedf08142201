//! The admission chain: hooks that see every create, update and delete
//! before it is stored, as Kubernetes' admission webhooks do. Mutating hooks
//! run first and may change the object; validating hooks run after the
//! built-in validation and may only accept or deny.
//!
//! Hooks see objects as JSON (`serde_json::Value`), so one hook serves every
//! kind, built-in or embedder-defined.
//!
//! ```
//! use async_trait::async_trait;
//! use orch_core::admission::{AdmissionChain, AdmissionRequest, MutatingHook};
//!
//! /// Adds `team: platform` to every object that has no `team` label.
//! struct DefaultTeam;
//!
//! #[async_trait]
//! impl MutatingHook for DefaultTeam {
//!     fn name(&self) -> &str { "default-team" }
//!     async fn mutate(&self, _req: &AdmissionRequest<'_>, object: &mut serde_json::Value) -> Result<(), String> {
//!         let labels = object
//!             .pointer_mut("/metadata")
//!             .and_then(|m| m.as_object_mut())
//!             .ok_or("object has no metadata")?
//!             .entry("labels")
//!             .or_insert_with(|| serde_json::json!({}));
//!         labels.as_object_mut().ok_or("labels is not a map")?
//!             .entry("team").or_insert_with(|| "platform".into());
//!         Ok(())
//!     }
//! }
//!
//! let chain = AdmissionChain::new().mutating(DefaultTeam);
//! assert!(!chain.is_empty());
//! ```

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::resource::ApiResource;

/// The operation being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A create.
    Create,
    /// A replace, patch, status write, or the metadata write of a deletion
    /// that waits for finalizers.
    Update,
    /// A delete.
    Delete,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        })
    }
}

/// What a hook is asked about.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionRequest<'a> {
    /// The operation.
    pub operation: Operation,
    /// The kind.
    pub resource: &'a ApiResource,
    /// The object's namespace (empty if cluster-scoped).
    pub namespace: &'a str,
    /// The object's name.
    pub name: &'a str,
    /// The stored object, for updates and deletes.
    pub old_object: Option<&'a Value>,
}

/// A hook that may change objects before they are validated and stored.
#[async_trait]
pub trait MutatingHook: Send + Sync + 'static {
    /// The hook's name, used in errors.
    fn name(&self) -> &str;
    /// Changes `object` in place, or denies the operation with a reason.
    /// Called for creates and updates.
    async fn mutate(&self, req: &AdmissionRequest<'_>, object: &mut Value) -> Result<(), String>;
}

/// A hook that accepts or denies an operation.
#[async_trait]
pub trait ValidatingHook: Send + Sync + 'static {
    /// The hook's name, used in errors.
    fn name(&self) -> &str;
    /// Accepts (`Ok`) or denies with a reason. `object` is the new object
    /// (`None` for deletes).
    async fn validate(
        &self,
        req: &AdmissionRequest<'_>,
        object: Option<&Value>,
    ) -> Result<(), String>;
}

/// An ordered list of mutating and validating hooks. Cheap to clone.
#[derive(Clone, Default)]
pub struct AdmissionChain {
    pub(crate) mutating: Vec<Arc<dyn MutatingHook>>,
    pub(crate) validating: Vec<Arc<dyn ValidatingHook>>,
}

impl fmt::Debug for AdmissionChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionChain")
            .field("mutating", &self.mutating.iter().map(|h| h.name()).collect::<Vec<_>>())
            .field("validating", &self.validating.iter().map(|h| h.name()).collect::<Vec<_>>())
            .finish()
    }
}

impl AdmissionChain {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a mutating hook; hooks run in the order added.
    #[must_use]
    pub fn mutating(mut self, hook: impl MutatingHook) -> Self {
        self.mutating.push(Arc::new(hook));
        self
    }

    /// Appends a validating hook; hooks run in the order added.
    #[must_use]
    pub fn validating(mut self, hook: impl ValidatingHook) -> Self {
        self.validating.push(Arc::new(hook));
        self
    }

    /// True if there are no hooks.
    pub fn is_empty(&self) -> bool {
        self.mutating.is_empty() && self.validating.is_empty()
    }
}
