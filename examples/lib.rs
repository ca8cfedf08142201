//! Shared helpers of orch's examples.

/// The README's "Embed it" program, compiled as a doc test so that it
/// stays true to the crates.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
