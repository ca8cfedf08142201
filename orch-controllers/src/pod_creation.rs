//! Creating an owner's Pods as Kubernetes' workload controllers do (the
//! ReplicaSet and Job controllers share it): slow-start batches of 1, 2,
//! 4, … Pods that stop at the first failure, so a bad template does not
//! flood the store; the names created recorded as expectations; a
//! `SuccessfulCreate` and, on a failure, a `FailedCreate` event on the owner.

use futures::future::join_all;
use orch_core::api::Api;
use orch_core::controller::{EventRecorder, EventType, ObjectKey};
use orch_core::kinds::event::ObjectReference;
use orch_core::kinds::pod::Pod;
use orch_core::Error;

use crate::expectations::Expectations;

/// The owner the Pods are created for.
pub struct Owner<'a> {
    /// Its key, under which the creates are expected.
    pub key: &'a ObjectKey,
    /// Its reference, for the events.
    pub reference: ObjectReference,
    /// The controller's expectations.
    pub expectations: &'a Expectations,
    /// The controller's event recorder.
    pub recorder: &'a EventRecorder,
}

/// Creates `pods` through `api` in slow-start batches.
///
/// Errors: the first create that failed (the Pods created before it stay,
/// and are expected).
pub async fn create_pods(api: &Api<Pod>, pods: &[Pod], owner: &Owner<'_>) -> Result<(), Error> {
    let mut created = Vec::new();
    let mut failure = None;
    let mut batch = 1;
    let mut done = 0;
    while done < pods.len() && failure.is_none() {
        let n = batch.min(pods.len() - done);
        for result in join_all(pods[done..done + n].iter().map(|p| api.create(p))).await {
            match result {
                Ok(p) => created.push(p.metadata.name),
                Err(e) => failure = Some(e),
            }
        }
        done += n;
        batch *= 2;
    }
    owner.expectations.expect(owner.key, created.iter().cloned(), std::iter::empty());
    if !created.is_empty() {
        let message = format!("Created {} pod(s)", created.len());
        let _ = owner
            .recorder
            .record(&owner.reference, EventType::Normal, "SuccessfulCreate", &message)
            .await;
    }
    match failure {
        Some(e) => {
            let _ = owner
                .recorder
                .record(&owner.reference, EventType::Warning, "FailedCreate", &e.to_string())
                .await;
            Err(e)
        }
        None => Ok(()),
    }
}
