//! Deletes: [`Api::delete`], with preconditions, finalizers, propagation
//! policies and graceful deletion.

use super::{Api, DeleteOutcome, DeleteParams, PropagationPolicy, MAX_RETRIES};
use crate::admission::{AdmissionRequest, Operation};
use crate::resource::Object;
use crate::store::{DeleteRangeRequest, KeyRange, TxnOp};
use crate::time::Time;
use crate::{Error, Result};

/// Finalizer that orphan propagation adds (Kubernetes `orphan`).
pub const FINALIZER_ORPHAN: &str = "orphan";
/// Finalizer that foreground propagation adds (Kubernetes `foregroundDeletion`).
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

impl<K: Object> Api<K> {
    /// Deletes an object. If it has finalizers (or the propagation policy
    /// adds one), it gets a `deletionTimestamp` instead and goes when the
    /// last finalizer is removed. Kinds with graceful deletion (a Pod bound
    /// to a node) also get a `deletionTimestamp` and `deletionGracePeriodSeconds`
    /// (from `params.grace_period_seconds`, else the kind's default, whatever
    /// the object's finalizers or the propagation policy) and go when
    /// deleted again with a grace period of 0, as Kubernetes. Deleting a
    /// terminating object again with a shorter grace period shortens it; a
    /// longer one changes nothing.
    ///
    /// Errors: [`Error::NotFound`]; [`Error::Conflict`] if a precondition
    /// fails; [`Error::AdmissionDenied`].
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<DeleteOutcome<K>> {
        if let Some(remote) = self.remote() {
            return self.remote_delete(remote, name, params).await;
        }
        let namespace = self.request_namespace().to_owned();
        let object = self.object_name(&namespace, name);
        for _ in 0..MAX_RETRIES {
            let kv = self.read_existing(&namespace, name).await?;
            let current = self.decode(&kv)?;
            if let Some(pre) = &params.preconditions {
                if let Some(uid) = pre.uid.as_deref().filter(|u| *u != current.meta().uid) {
                    return Err(Error::Conflict {
                        object,
                        expected: format!("uid {uid}"),
                        actual: format!("uid {}", current.meta().uid),
                    });
                }
                if let Some(rv) = pre
                    .resource_version
                    .as_deref()
                    .filter(|rv| *rv != current.meta().resource_version)
                {
                    return Err(Error::Conflict {
                        object,
                        expected: rv.to_owned(),
                        actual: current.meta().resource_version.clone(),
                    });
                }
            }
            if !self.admission.validating.is_empty() {
                let old = Self::to_value(&current, &object)?;
                let req = AdmissionRequest {
                    operation: Operation::Delete,
                    resource: &self.resource,
                    namespace: &namespace,
                    name,
                    old_object: Some(&old),
                };
                for hook in &self.admission.validating {
                    hook.validate(&req, None).await.map_err(|reason| Error::AdmissionDenied {
                        hook: hook.name().to_owned(),
                        operation: Operation::Delete.to_string(),
                        object: object.clone(),
                        reason,
                    })?;
                }
            }
            let mut next = current.clone();
            let meta = next.meta_mut();
            let policy_finalizer = match params.propagation_policy {
                Some(PropagationPolicy::Orphan) => Some(FINALIZER_ORPHAN),
                Some(PropagationPolicy::Foreground) => Some(FINALIZER_FOREGROUND),
                _ => None,
            };
            let mut added = false;
            if let Some(f) = policy_finalizer {
                if !meta.finalizers.iter().any(|x| x == f) {
                    meta.finalizers.push(f.to_owned());
                    added = true;
                }
            }
            let key = self.key(&namespace, name);
            // Graceful deletion (bound Pods): the grace period asked for, else
            // the kind's; finalizers or a propagation policy do not change it.
            let kind_grace = current.graceful_deletion_seconds();
            let grace = kind_grace.map(|g| params.grace_period_seconds.unwrap_or(g).max(0));
            let graceful = grace.is_some_and(|g| g > 0);
            if self.dry_run {
                // What the delete would leave: a terminating object while a
                // grace period or finalizers remain, else nothing.
                if graceful || !meta.finalizers.is_empty() {
                    if meta.deletion_timestamp.is_none() {
                        meta.deletion_timestamp = Some(Time::now());
                        meta.deletion_grace_period_seconds = grace;
                    }
                    return Ok(DeleteOutcome::Finalizing(next));
                }
                return Ok(DeleteOutcome::Deleted(current));
            }
            if meta.deletion_timestamp.is_some() && !added {
                // Already deleting: a shorter grace period shortens it (as
                // kube-apiserver allows), anything else changes nothing.
                let shorter =
                    grace.filter(|g| meta.deletion_grace_period_seconds.is_none_or(|d| g < &d));
                match shorter {
                    Some(g) if graceful || !meta.finalizers.is_empty() => {
                        meta.deletion_grace_period_seconds = Some(g);
                        let put = TxnOp::Put(
                            self.put_request(
                                key.clone(),
                                self.encode(&Self::unversioned(&next), &object)?,
                            )
                            .await?,
                        );
                        if let Some(rv) = self.write_if_unchanged(key, kv.mod_revision, put).await?
                        {
                            next.meta_mut().resource_version = rv.to_string();
                            return Ok(DeleteOutcome::Finalizing(next));
                        }
                        continue;
                    }
                    _ if graceful || !meta.finalizers.is_empty() => {
                        return Ok(DeleteOutcome::Finalizing(current));
                    }
                    // Grace 0 on a terminating Pod without finalizers: delete now.
                    _ => {}
                }
            }
            if graceful && meta.finalizers.is_empty() {
                meta.deletion_timestamp = Some(Time::now());
                meta.deletion_grace_period_seconds = grace;
                meta.generation += 1;
                let put = TxnOp::Put(
                    self.put_request(key.clone(), self.encode(&Self::unversioned(&next), &object)?)
                        .await?,
                );
                if let Some(revision) = self.write_if_unchanged(key, kv.mod_revision, put).await? {
                    next.meta_mut().resource_version = revision.to_string();
                    return Ok(DeleteOutcome::Finalizing(next));
                }
                continue;
            }
            let (op, finalizing) = if meta.finalizers.is_empty() {
                (
                    TxnOp::DeleteRange(DeleteRangeRequest {
                        range: KeyRange::key(key.clone()),
                        prev_kv: false,
                    }),
                    false,
                )
            } else {
                if meta.deletion_timestamp.is_none() {
                    meta.deletion_timestamp = Some(Time::now());
                    // A kind without graceful deletion waits for nothing but
                    // its finalizers (Kubernetes sets 0).
                    meta.deletion_grace_period_seconds = Some(grace.unwrap_or(0));
                    meta.generation += 1;
                }
                (
                    TxnOp::Put(
                        self.put_request(
                            key.clone(),
                            self.encode(&Self::unversioned(&next), &object)?,
                        )
                        .await?,
                    ),
                    true,
                )
            };
            if let Some(revision) = self.write_if_unchanged(key, kv.mod_revision, op).await? {
                next.meta_mut().resource_version = revision.to_string();
                return Ok(if finalizing {
                    DeleteOutcome::Finalizing(next)
                } else {
                    DeleteOutcome::Deleted(next)
                });
            }
        }
        Err(Error::Conflict {
            object,
            expected: "any".into(),
            actual: format!("changed on each of {MAX_RETRIES} attempts"),
        })
    }
}
