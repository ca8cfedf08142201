//! Plugin results: a [`Code`] and the reasons behind it, as kube-scheduler's
//! `framework.Status`.

use std::fmt;

/// What a plugin decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// Go on.
    Success,
    /// The pod does not fit now; preemption or a cluster change may help.
    Unschedulable,
    /// The pod does not fit, and preempting pods on this node would not help.
    UnschedulableAndUnresolvable,
    /// Permit: hold the pod until allowed or the timeout passes.
    Wait,
    /// The plugin has nothing to do for this pod (PreFilter, PreScore, Bind).
    Skip,
    /// Something went wrong inside the plugin.
    Error,
}

/// A plugin's result: code, reasons, and the plugin that decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The decision.
    pub code: Code,
    /// Human-readable reasons, as they appear in FailedScheduling events
    /// (e.g. `Insufficient cpu`).
    pub reasons: Vec<String>,
    /// The plugin that returned it (set by the framework).
    pub plugin: String,
}

impl Status {
    /// Success.
    pub fn success() -> Self {
        Status { code: Code::Success, reasons: Vec::new(), plugin: String::new() }
    }

    /// A status with one reason.
    pub fn new(code: Code, reason: impl Into<String>) -> Self {
        Status { code, reasons: vec![reason.into()], plugin: String::new() }
    }

    /// `Unschedulable` with a reason.
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Self::new(Code::Unschedulable, reason)
    }

    /// `UnschedulableAndUnresolvable` with a reason.
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Self::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// `Error` with a reason.
    pub fn error(reason: impl Into<String>) -> Self {
        Self::new(Code::Error, reason)
    }

    /// `Skip`.
    pub fn skip() -> Self {
        Status { code: Code::Skip, reasons: Vec::new(), plugin: String::new() }
    }

    /// True for `Success`.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// True for `Unschedulable` and `UnschedulableAndUnresolvable`.
    pub fn is_rejected(&self) -> bool {
        matches!(self.code, Code::Unschedulable | Code::UnschedulableAndUnresolvable)
    }

    /// Records the plugin that decided.
    #[must_use]
    pub fn with_plugin(mut self, plugin: &str) -> Self {
        if self.plugin.is_empty() {
            plugin.clone_into(&mut self.plugin);
        }
        self
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.code)?;
        if !self.plugin.is_empty() {
            write!(f, " from {}", self.plugin)?;
        }
        if !self.reasons.is_empty() {
            write!(f, ": {}", self.reasons.join(", "))?;
        }
        Ok(())
    }
}
