//! The public Store conformance suite and the model-based check, run against
//! MemStore.

use std::sync::Arc;

use orch_core::store::conformance;
use orch_store::{MemStore, MemStoreConfig};

orch_core::store_conformance_tests!(async { Arc::new(MemStore::new()) });

/// The same suite with one-batch watch buffers, so that every watcher falls
/// behind at once and runs on the catch-up path.
mod tiny_watch_buffers {
    use super::*;
    orch_core::store_conformance_tests!(async {
        Arc::new(MemStore::with_config(MemStoreConfig::default().watch_buffer_batches(1)))
    });
}

#[test]
fn random_operation_sequences_match_the_model() {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
    conformance::check_against_model(|| Arc::new(MemStore::new()), cases);
}

#[test]
fn random_operation_sequences_match_the_model_with_lagging_watchers() {
    conformance::check_against_model(
        || Arc::new(MemStore::with_config(MemStoreConfig::default().watch_buffer_batches(1))),
        64,
    );
}
