//! Shared helpers of orch's benchmarks.
