//! Shared helpers of orch's examples.
