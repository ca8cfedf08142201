//! The Deployment controller, after Kubernetes' `deployment` controller:
//! one ReplicaSet per Pod template, rolled out by `RollingUpdate` (within
//! `maxSurge` and `maxUnavailable`) or `Recreate`.
//!
//! * Each template gets a ReplicaSet named `{deployment}-{pod-template-hash}`
//!   whose selector and Pods carry the `pod-template-hash` label, and a
//!   `deployment.kubernetes.io/revision` annotation (1, 2, …); going back to
//!   an old template reuses its ReplicaSet under a new revision.
//! * Rolling updates scale the new ReplicaSet up and the old ones down so
//!   that at no time more than `replicas + maxSurge` Pods exist (counting
//!   both the ReplicaSets' specs and the Pods actually present) nor fewer
//!   than `replicas − maxUnavailable` are available (counted from the Pods).
//! * Old ReplicaSets beyond `revisionHistoryLimit` are deleted; `paused`
//!   stops rollouts; [`rollback`] is `kubectl rollout undo`.
//! * Status: replicas, updatedReplicas, readyReplicas, availableReplicas,
//!   unavailableReplicas, and the `Available` and `Progressing` conditions,
//!   with `ProgressDeadlineExceeded` after `progressDeadlineSeconds`
//!   without progress.
//! * The rollout arithmetic — how far each ReplicaSet scales, which old
//!   ones are deleted, where an auto-revert goes — is [`rollout`]: plain
//!   functions of what is observed, tested without a store or a clock.
//! * Beyond Kubernetes, as Nomad's `auto_revert`: with the annotation
//!   `orch.io/auto-revert: "true"`, a rollout that exceeds its progress
//!   deadline is rolled back to the newest revision that ever became fully
//!   available, and an `AutoReverted` Event records it.

pub mod rollout;
pub mod status;

use std::hash::Hasher;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::controller_ref;
use crate::pod_readiness::{is_active, is_available, is_ready};
use orch_core::api::{Api, DeleteParams};
use orch_core::controller::{
    object_reference, Action, Cache, Context, Controller, EventRecorder, EventType,
    InformerFactory, Reconciler, INDEX_NAMESPACE, INDEX_OWNER,
};
use orch_core::kinds::deployment::{Deployment, DeploymentStrategyType};
use orch_core::kinds::pod::{Pod, PodPhase, PodTemplateSpec};
use orch_core::kinds::replica_set::{ReplicaSet, ReplicaSetSpec};
use orch_core::meta::ObjectMeta;
use orch_core::selector::LabelSelector;
use orch_core::store::Store;
use orch_core::Error;
use orch_core::Time;
pub use rollout::{PodCounts, ReplicaSetState, Scale};

/// The revision annotation on ReplicaSets and Deployments.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The label that ties a ReplicaSet and its Pods to one template.
pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Set to `"true"` on a Deployment to roll back automatically when a rollout
/// exceeds its progress deadline.
pub const AUTO_REVERT_ANNOTATION: &str = "orch.io/auto-revert";
/// Set on a ReplicaSet once it has been fully available as the current one.
pub const BECAME_AVAILABLE_ANNOTATION: &str = "orch.io/became-available";

/// The Deployment controller. See the [module docs](self).
pub struct DeploymentController {
    store: Arc<dyn Store>,
    replica_sets: Cache<ReplicaSet>,
    pods: Cache<Pod>,
    recorder: EventRecorder,
}

impl std::fmt::Debug for DeploymentController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentController").finish_non_exhaustive()
    }
}

/// One owned ReplicaSet and what the rollout sees of it.
struct Rs {
    rs: Arc<ReplicaSet>,
    state: ReplicaSetState,
}

impl Rs {
    fn revision(&self) -> i64 {
        self.state.revision
    }
}

fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations.get(REVISION_ANNOTATION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// A template as a ReplicaSet compares it: without the hash label.
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    t.metadata.labels.remove(TEMPLATE_HASH_LABEL);
    t
}

/// The pod-template-hash of a template: FNV-1a over its JSON and the
/// collision count, spelled in Kubernetes' safe alphabet.
pub fn template_hash(template: &PodTemplateSpec, collision_count: i32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(&serde_json::to_vec(&without_hash(template)).unwrap_or_default());
    hasher.write(&collision_count.to_le_bytes());
    let mut n = hasher.finish();
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
    }
    out
}

/// `(maxSurge, maxUnavailable)` of a Deployment, as Kubernetes resolves
/// them ([`rollout::resolve_bounds`]).
pub fn rolling_bounds(d: &Deployment) -> (i32, i32) {
    let ru = d.spec.strategy.as_ref().and_then(|s| s.rolling_update.as_ref());
    rollout::resolve_bounds(
        d.spec.replicas(),
        ru.and_then(|r| r.max_surge.as_ref()),
        ru.and_then(|r| r.max_unavailable.as_ref()),
    )
}

impl DeploymentController {
    /// A controller reading ReplicaSets and Pods from the factory's informers.
    pub fn new(factory: &InformerFactory) -> Self {
        DeploymentController {
            store: factory.store().clone(),
            replica_sets: factory.informer::<ReplicaSet>().cache().clone(),
            pods: factory.informer::<Pod>().cache().clone(),
            recorder: EventRecorder::new(factory.store().clone(), "deployment-controller", None),
        }
    }

    /// The runner for this controller: Deployments, the ReplicaSets they
    /// own, and the Pods of those (a Recreate waits for old Pods to be gone).
    pub fn controller(factory: Arc<InformerFactory>) -> Controller<Deployment> {
        let replica_sets = factory.informer::<ReplicaSet>().cache().clone();
        Controller::<Deployment>::new(factory)
            .owns::<ReplicaSet>()
            .watches::<Pod>(move |pod: &Pod| {
                let Some(rs_ref) =
                    pod.metadata.controller_owner().filter(|o| o.kind == "ReplicaSet")
                else {
                    return Vec::new();
                };
                let key = orch_core::controller::ObjectKey::new(
                    pod.metadata.namespace.clone(),
                    rs_ref.name.clone(),
                );
                replica_sets
                    .get(&key)
                    .and_then(|rs| {
                        rs.metadata.controller_owner().filter(|o| o.kind == "Deployment").map(|d| {
                            orch_core::controller::ObjectKey::new(
                                pod.metadata.namespace.clone(),
                                d.name.clone(),
                            )
                        })
                    })
                    .into_iter()
                    .collect()
            })
            .name("deployment")
    }

    fn rs_api(&self, namespace: &str) -> Api<ReplicaSet> {
        Api::namespaced(self.store.clone(), namespace)
    }

    fn state(&self, rs: &ReplicaSet, min_ready: i32, now: Time) -> ReplicaSetState {
        ReplicaSetState {
            name: rs.metadata.name.clone(),
            revision: revision_of(&rs.metadata),
            spec_replicas: rs.spec.replicas.unwrap_or(1),
            pods: self.counts(rs, min_ready, now),
            deleting: rs.metadata.is_deleting(),
            became_available: rs
                .metadata
                .annotations
                .get(BECAME_AVAILABLE_ANNOTATION)
                .is_some_and(|v| v == "true"),
        }
    }

    fn counts(&self, rs: &ReplicaSet, min_ready: i32, now: Time) -> PodCounts {
        let mut c = PodCounts::default();
        for pod in self.pods.by_index(INDEX_OWNER, &rs.metadata.uid) {
            let finished = matches!(
                pod.status.as_ref().and_then(|s| s.phase),
                Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
            );
            c.present += i32::from(!finished);
            if !is_active(&pod) {
                continue;
            }
            c.active += 1;
            c.ready += i32::from(is_ready(&pod));
            c.available += i32::from(is_available(&pod, min_ready, now));
        }
        c
    }

    /// The ReplicaSets this Deployment owns (adopting matching orphans).
    ///
    /// Errors: `Conflict` if an orphan changed while it was being adopted
    /// (the reconcile is retried); the Api's.
    async fn claim(
        &self,
        d: &Deployment,
        selector: &LabelSelector,
    ) -> Result<Vec<Arc<ReplicaSet>>, Error> {
        let mut owned = Vec::new();
        for rs in self.replica_sets.by_index(INDEX_NAMESPACE, &d.metadata.namespace) {
            match rs.metadata.controller_owner() {
                Some(o) if o.uid == d.metadata.uid => owned.push(rs),
                None if !rs.metadata.is_deleting()
                    && selector.matches(&rs.spec.template.metadata.labels) =>
                {
                    let mut refs = rs.metadata.owner_references.clone();
                    refs.push(controller_ref(d));
                    let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": rs.metadata.resource_version}});
                    match self.rs_api(&d.metadata.namespace).patch(&rs.metadata.name, &patch).await
                    {
                        Ok(adopted) => owned.push(Arc::new(adopted)),
                        Err(e) if e.is_not_found() => {}
                        // Changed meanwhile: retry on fresh state rather than
                        // go on without it (a new ReplicaSet would be made).
                        Err(e) => return Err(e),
                    }
                }
                _ => {}
            }
        }
        Ok(owned)
    }

    /// Creates the ReplicaSet of the current template, with 0 replicas (the
    /// rollout scales it).
    async fn create_new(&self, d: &Deployment, revision: i64) -> Result<ReplicaSet, Error> {
        let collisions = d.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let hash = template_hash(&d.spec.template, collisions);
        let mut template = d.spec.template.clone();
        template.metadata.labels.insert(TEMPLATE_HASH_LABEL.into(), hash.clone());
        let mut selector = d.spec.selector.clone();
        selector.match_labels.insert(TEMPLATE_HASH_LABEL.into(), hash.clone());
        let mut annotations = d.metadata.annotations.clone();
        annotations.remove(AUTO_REVERT_ANNOTATION);
        annotations.insert(REVISION_ANNOTATION.into(), revision.to_string());
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: format!("{}-{hash}", d.metadata.name),
                namespace: d.metadata.namespace.clone(),
                labels: template.metadata.labels.clone(),
                annotations,
                owner_references: vec![controller_ref(d)],
                ..Default::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: d.spec.min_ready_seconds,
                selector,
                template,
            },
            ..Default::default()
        };
        let api = self.rs_api(&d.metadata.namespace);
        match api.create(&rs).await {
            Ok(created) => {
                let message =
                    format!("Created replica set {} (revision {revision})", created.metadata.name);
                let _ = self
                    .recorder
                    .record(&object_reference(d), EventType::Normal, "ScalingReplicaSet", &message)
                    .await;
                Ok(created)
            }
            Err(Error::AlreadyExists { object }) => {
                // Same name, another template: a hash collision. Count it so
                // the next hash differs (Kubernetes' collisionCount).
                let existing = api.get(&rs.metadata.name).await?;
                if without_hash(&existing.spec.template) == without_hash(&rs.spec.template) {
                    return Ok(existing);
                }
                let deployments: Api<Deployment> =
                    Api::namespaced(self.store.clone(), &d.metadata.namespace);
                deployments
                    .patch_status(
                        &d.metadata.name,
                        &json!({"status": {"collisionCount": collisions + 1}}),
                    )
                    .await?;
                Err(Error::AlreadyExists { object })
            }
            Err(e) => Err(e),
        }
    }

    async fn scale(&self, d: &Deployment, rs: &ReplicaSet, replicas: i32) -> Result<(), Error> {
        if rs.spec.replicas == Some(replicas) {
            return Ok(());
        }
        let patch = json!({"spec": {"replicas": replicas}, "metadata": {"resourceVersion": rs.metadata.resource_version}});
        self.rs_api(&rs.metadata.namespace).patch(&rs.metadata.name, &patch).await?;
        let verb = if replicas > rs.spec.replicas.unwrap_or(1) { "up" } else { "down" };
        let message = format!("Scaled {verb} replica set {} to {replicas}", rs.metadata.name);
        let _ = self
            .recorder
            .record(&object_reference(d), EventType::Normal, "ScalingReplicaSet", &message)
            .await;
        Ok(())
    }

    /// Carries out `scales` (decided by [`rollout`]) on the ReplicaSets
    /// `new` and `old`. Returns true if there were any.
    async fn apply(
        &self,
        d: &Deployment,
        scales: &[Scale],
        new: &Rs,
        old: &[Rs],
    ) -> Result<bool, Error> {
        for scale in scales {
            let target = std::iter::once(new).chain(old).find(|r| r.state.name == scale.name);
            if let Some(r) = target {
                self.scale(d, &r.rs, scale.replicas).await?;
            }
        }
        Ok(!scales.is_empty())
    }

    /// Deletes old, empty ReplicaSets beyond `revisionHistoryLimit`.
    async fn cleanup(&self, d: &Deployment, old: &[ReplicaSetState]) -> Result<(), Error> {
        let limit = d.spec.revision_history_limit().max(0) as usize;
        let api = self.rs_api(&d.metadata.namespace);
        for name in rollout::history_to_delete(limit, old) {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Rolls back to the newest revision that became available, if the
    /// Deployment asks for it. Returns true if it did.
    async fn auto_revert(
        &self,
        d: &Deployment,
        new: &Rs,
        old: &[Rs],
        old_states: &[ReplicaSetState],
    ) -> Result<bool, Error> {
        if d.metadata.annotations.get(AUTO_REVERT_ANNOTATION).map(String::as_str) != Some("true") {
            return Ok(false);
        }
        let Some(name) = rollout::auto_revert_target(old_states).map(|t| t.name.clone()) else {
            return Ok(false);
        };
        let Some(target) = old.iter().find(|r| r.state.name == name) else {
            return Ok(false);
        };
        let deployments: Api<Deployment> =
            Api::namespaced(self.store.clone(), &d.metadata.namespace);
        let mut reverted = d.clone();
        reverted.spec.template = without_hash(&target.rs.spec.template);
        deployments.replace(&reverted).await?;
        let message = format!(
            "Rollout of revision {} exceeded its progress deadline; rolled back to revision {}",
            new.revision(),
            target.revision()
        );
        let _ = self
            .recorder
            .record(&object_reference(d), EventType::Warning, "AutoReverted", &message)
            .await;
        Ok(true)
    }
}

#[async_trait]
impl Reconciler for DeploymentController {
    type Object = Deployment;
    type Error = Error;

    async fn reconcile(&self, d: Arc<Deployment>, _ctx: &Context) -> Result<Action, Error> {
        if d.metadata.is_deleting() {
            return Ok(Action::await_change());
        }
        let selector = match LabelSelector::from_object(&d.spec.selector) {
            Ok(s) if !s.is_empty() => s,
            _ => {
                let _ = self
                    .recorder
                    .record(
                        &object_reference(&*d),
                        EventType::Warning,
                        "InvalidSelector",
                        "spec.selector is empty or invalid",
                    )
                    .await;
                return Ok(Action::await_change());
            }
        };
        let now = Time::now();
        let min_ready = d.spec.min_ready_seconds.unwrap_or(0);
        let owned = self.claim(&d, &selector).await?;
        let template = without_hash(&d.spec.template);
        let max_revision = owned.iter().map(|r| revision_of(&r.metadata)).max().unwrap_or(0);
        let mut new = None;
        let mut old = Vec::new();
        for rs in owned {
            let state = self.state(&rs, min_ready, now);
            let entry = Rs { rs, state };
            if new.is_none() && without_hash(&entry.rs.spec.template) == template {
                new = Some(entry);
            } else {
                old.push(entry);
            }
        }
        let old_states: Vec<ReplicaSetState> = old.iter().map(|r| r.state.clone()).collect();
        let paused = d.spec.paused == Some(true);
        let mut scaled = false;
        if !paused {
            match &new {
                None => {
                    self.create_new(&d, max_revision + 1).await?;
                    // The new ReplicaSet's event brings the next step.
                    return Ok(Action::await_change());
                }
                Some(n) if n.revision() < max_revision => {
                    // Back to an older template: it becomes the newest revision.
                    let mut annotations = n.rs.metadata.annotations.clone();
                    annotations.insert(REVISION_ANNOTATION.into(), (max_revision + 1).to_string());
                    let patch = json!({"metadata": {"annotations": annotations, "resourceVersion": n.rs.metadata.resource_version}});
                    self.rs_api(&d.metadata.namespace).patch(&n.rs.metadata.name, &patch).await?;
                    return Ok(Action::await_change());
                }
                Some(n) => {
                    let recreate = d.spec.strategy.as_ref().and_then(|s| s.type_)
                        == Some(DeploymentStrategyType::Recreate);
                    let desired = d.spec.replicas();
                    let scales = if recreate {
                        rollout::recreate(desired, &n.state, &old_states)
                    } else {
                        let (max_surge, max_unavailable) = rolling_bounds(&d);
                        rollout::rolling_update(
                            desired,
                            max_surge,
                            max_unavailable,
                            &n.state,
                            &old_states,
                        )
                    };
                    scaled = self.apply(&d, &scales, n, &old).await?;
                    self.cleanup(&d, &old_states).await?;
                }
            }
        }

        // Status and conditions.
        let (_, max_unavailable) = rolling_bounds(&d);
        let previous = d.status.clone().unwrap_or_default();
        let decision = status::deployment_status(&status::Observed {
            desired: d.spec.replicas(),
            max_unavailable,
            paused,
            generation: d.metadata.generation,
            progress_deadline: Duration::from_secs(d.spec.progress_deadline_seconds().max(0) as u64),
            new: new.as_ref().map(|n| &n.state),
            old: &old_states,
            scaled,
            previous: &previous,
            now,
        });
        if decision.deadline_newly_exceeded {
            let new_name = new.as_ref().map_or("", |n| n.state.name.as_str());
            let _ = self
                .recorder
                .record(
                    &object_reference(&*d),
                    EventType::Warning,
                    "ProgressDeadlineExceeded",
                    &format!("ReplicaSet {new_name} has timed out progressing"),
                )
                .await;
            if let Some(n) = &new {
                if self.auto_revert(&d, n, &old, &old_states).await? {
                    return Ok(Action::await_change());
                }
            }
        }
        let complete = decision.complete;
        let status = decision.status;
        if complete {
            if let Some(n) = &new {
                if !n.rs.metadata.annotations.contains_key(BECAME_AVAILABLE_ANNOTATION) {
                    let patch =
                        json!({"metadata": {"annotations": {BECAME_AVAILABLE_ANNOTATION: "true"}}});
                    self.rs_api(&d.metadata.namespace).patch(&n.rs.metadata.name, &patch).await?;
                }
            }
        }
        if d.status.as_ref() != Some(&status) {
            let api: Api<Deployment> = Api::namespaced(self.store.clone(), &d.metadata.namespace);
            match api.patch_status(&d.metadata.name, &json!({ "status": status })).await {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(n) = &new {
            let revision = n.revision().to_string();
            if d.metadata.annotations.get(REVISION_ANNOTATION) != Some(&revision) {
                let deployments: Api<Deployment> =
                    Api::namespaced(self.store.clone(), &d.metadata.namespace);
                deployments
                    .patch(
                        &d.metadata.name,
                        &json!({"metadata": {"annotations": {REVISION_ANNOTATION: revision}}}),
                    )
                    .await?;
            }
        }
        Ok(decision.requeue.map_or_else(Action::await_change, Action::requeue))
    }
}

/// `kubectl rollout undo`: puts the template of revision `to_revision` (the
/// previous revision if `None`) back into the Deployment; the controller
/// then rolls it out as a new revision. If the Deployment changes between
/// the read and the write (its controller updates its status), it reads it
/// again and retries, up to 5 times (client-go's `RetryOnConflict`).
///
/// Errors: [`Error::NotFound`] for the Deployment; [`Error::Invalid`] if no
/// ReplicaSet of the Deployment has that revision; [`Error::Conflict`]
/// after 5 conflicting attempts; the Api's.
pub async fn rollback(
    store: Arc<dyn Store>,
    namespace: &str,
    name: &str,
    to_revision: Option<i64>,
) -> Result<Deployment, Error> {
    const ATTEMPTS: usize = 5;
    let mut attempt = 1;
    loop {
        match rollback_once(store.clone(), namespace, name, to_revision).await {
            Err(Error::Conflict { .. }) if attempt < ATTEMPTS => attempt += 1,
            result => return result,
        }
    }
}

async fn rollback_once(
    store: Arc<dyn Store>,
    namespace: &str,
    name: &str,
    to_revision: Option<i64>,
) -> Result<Deployment, Error> {
    let deployments: Api<Deployment> = Api::namespaced(store.clone(), namespace);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(store, namespace);
    let d = deployments.get(name).await?;
    let mut owned: Vec<ReplicaSet> = replica_sets
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|rs| rs.metadata.controller_owner().is_some_and(|o| o.uid == d.metadata.uid))
        .collect();
    owned.sort_by_key(|rs| std::cmp::Reverse(revision_of(&rs.metadata)));
    let target = match to_revision {
        Some(r) => owned.iter().find(|rs| revision_of(&rs.metadata) == r),
        None => owned.get(1),
    };
    let Some(target) = target else {
        return Err(Error::Invalid {
            object: format!("deployments/{namespace}/{name}"),
            field: "revision".into(),
            reason: match to_revision {
                Some(r) => format!("no revision {r} in the rollout history"),
                None => "no previous revision in the rollout history".into(),
            },
        });
    };
    let mut next = d.clone();
    next.spec.template = without_hash(&target.spec.template);
    deployments.replace(&next).await
}
