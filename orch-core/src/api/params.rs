//! Parameters and results of [`Api`](super::Api) calls.

/// Options of [`Api::list`](super::Api::list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Label selector, e.g. `app=web,tier in (a,b),!canary`.
    pub label_selector: Option<String>,
    /// Field selector, e.g. `spec.nodeName=node-1`.
    pub field_selector: Option<String>,
    /// At most this many items per page; `None` for all.
    pub limit: Option<u32>,
    /// The `continue_token` of the previous page; pages of one list are all
    /// read at the first page's revision.
    pub continue_token: Option<String>,
}

impl ListParams {
    /// Filters by label selector.
    #[must_use]
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Filters by field selector.
    #[must_use]
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// Pages of at most `limit` items.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continues after a previous page.
    #[must_use]
    pub fn continue_from(mut self, token: impl Into<String>) -> Self {
        self.continue_token = Some(token.into());
        self
    }
}

/// Options of [`Api::watch`](super::Api::watch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchParams {
    /// Label selector; objects that stop matching arrive as `Deleted`, objects
    /// that start matching as `Added`, as Kubernetes does.
    pub label_selector: Option<String>,
    /// Field selector, with the same transitions.
    pub field_selector: Option<String>,
    /// Ask for `Bookmark` events when the watch is idle.
    pub bookmarks: bool,
}

impl WatchParams {
    /// Filters by label selector.
    #[must_use]
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Filters by field selector.
    #[must_use]
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// Asks for bookmarks.
    #[must_use]
    pub fn bookmarks(mut self) -> Self {
        self.bookmarks = true;
        self
    }
}

/// What happens to dependents when their owner is deleted (Kubernetes
/// `DeletionPropagation`). The garbage collector acts on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PropagationPolicy {
    /// Delete the owner now; the garbage collector deletes dependents after.
    #[default]
    Background,
    /// Delete dependents first (the owner gets the `foregroundDeletion`
    /// finalizer until they are gone).
    Foreground,
    /// Leave dependents (the owner gets the `orphan` finalizer until their
    /// owner references are removed).
    Orphan,
}

/// Conditions a delete checks before it acts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// The object's uid must be this.
    pub uid: Option<String>,
    /// The object's resourceVersion must be this.
    pub resource_version: Option<String>,
}

/// Options of [`Api::delete`](super::Api::delete).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteParams {
    /// Checked before deleting; `Conflict` if they do not hold.
    pub preconditions: Option<Preconditions>,
    /// What happens to dependents.
    pub propagation_policy: Option<PropagationPolicy>,
    /// Recorded as `deletionGracePeriodSeconds` when the deletion waits for
    /// finalizers; default 0.
    pub grace_period_seconds: Option<i64>,
}

impl DeleteParams {
    /// Deletes in the foreground.
    pub fn foreground() -> Self {
        DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..Default::default()
        }
    }

    /// Orphans dependents.
    pub fn orphan() -> Self {
        DeleteParams { propagation_policy: Some(PropagationPolicy::Orphan), ..Default::default() }
    }
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq)]
pub enum DeleteOutcome<K> {
    /// The object is gone; this is its last state, with the deletion's
    /// resourceVersion.
    Deleted(K),
    /// Finalizers remain: the object now has a `deletionTimestamp` and goes
    /// when the last finalizer is removed.
    Finalizing(K),
}

impl<K> DeleteOutcome<K> {
    /// The object, either way.
    pub fn into_object(self) -> K {
        match self {
            DeleteOutcome::Deleted(k) | DeleteOutcome::Finalizing(k) => k,
        }
    }

    /// True if the object is gone.
    pub fn is_deleted(&self) -> bool {
        matches!(self, DeleteOutcome::Deleted(_))
    }
}
