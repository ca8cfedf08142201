//! The ReplicaSet controller, after Kubernetes' `replicaset` controller:
//! keeps `spec.replicas` active Pods matching the selector.
//!
//! * Pods it creates come from the template, named `{replicaset}-{random}`,
//!   with a controller owner reference.
//! * Orphan Pods that match the selector are adopted; owned Pods that no
//!   longer match are released.
//! * Scale-down deletes in Kubernetes' order: unscheduled, pending, not
//!   ready, newest first ([`deletion_order`]).
//! * Expectations keep it from acting twice on a cache that has not caught
//!   up with its own creates and deletes; at most `burst_replicas` Pods are
//!   created or deleted per reconcile (Kubernetes' 500).
//! * Status: replicas, fullyLabeledReplicas, readyReplicas,
//!   availableReplicas (Ready for `minReadySeconds`), observedGeneration.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use serde_json::json;

use crate::controller_ref;
use crate::expectations::Expectations;
use crate::pod_creation::{create_pods, Owner};
use crate::pod_readiness::{
    deletion_order, is_active, is_available, is_ready, seconds_until_available,
};
use orch_core::api::{Api, DeleteParams};
use orch_core::controller::{
    object_reference, Action, Cache, Context, Controller, EventRecorder, EventType,
    InformerFactory, ObjectKey, Reconciler, INDEX_NAMESPACE,
};
use orch_core::kinds::pod::Pod;
use orch_core::kinds::replica_set::{ReplicaSet, ReplicaSetStatus};
use orch_core::meta::ObjectMeta;
use orch_core::selector::LabelSelector;
use orch_core::store::Store;
use orch_core::Error;
use orch_core::Time;

/// Kubernetes' `burstReplicas`: the most Pods created or deleted per reconcile.
pub const BURST_REPLICAS: usize = 500;

/// The ReplicaSet controller. See the [module docs](self).
pub struct ReplicaSetController {
    store: Arc<dyn Store>,
    pods: Cache<Pod>,
    recorder: EventRecorder,
    expectations: Expectations,
    burst_replicas: usize,
}

impl std::fmt::Debug for ReplicaSetController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaSetController")
            .field("burst_replicas", &self.burst_replicas)
            .finish()
    }
}

impl ReplicaSetController {
    /// A controller reading Pods from the factory's shared informer.
    pub fn new(factory: &InformerFactory) -> Self {
        ReplicaSetController {
            store: factory.store().clone(),
            pods: factory.informer::<Pod>().cache().clone(),
            recorder: EventRecorder::new(factory.store().clone(), "replicaset-controller", None),
            expectations: Expectations::default(),
            burst_replicas: BURST_REPLICAS,
        }
    }

    /// Changes the most Pods created or deleted per reconcile (at least 1).
    #[must_use]
    pub fn burst_replicas(mut self, n: usize) -> Self {
        self.burst_replicas = n.max(1);
        self
    }

    /// The runner for this controller: ReplicaSets, the Pods they own, and
    /// orphan Pods that a ReplicaSet's selector matches.
    pub fn controller(factory: Arc<InformerFactory>) -> Controller<ReplicaSet> {
        let replica_sets = factory.informer::<ReplicaSet>().cache().clone();
        Controller::<ReplicaSet>::new(factory)
            .owns::<Pod>()
            .watches::<Pod>(move |pod: &Pod| orphan_owners(&replica_sets, pod))
            .name("replicaset")
    }

    fn pods_api(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.store.clone(), namespace)
    }

    /// The Pods this ReplicaSet owns, after adopting matching orphans and
    /// releasing owned Pods that stopped matching.
    async fn claim_pods(
        &self,
        rs: &ReplicaSet,
        selector: &LabelSelector,
    ) -> Result<Vec<Arc<Pod>>, Error> {
        let uid = &rs.metadata.uid;
        let api = self.pods_api(&rs.metadata.namespace);
        let mut owned = Vec::new();
        for pod in self.pods.by_index(INDEX_NAMESPACE, &rs.metadata.namespace) {
            let matches = selector.matches(&pod.metadata.labels);
            match pod.metadata.controller_owner() {
                Some(owner) if owner.uid == *uid => {
                    if matches || pod.metadata.is_deleting() {
                        owned.push(pod);
                    } else {
                        let refs: Vec<_> = pod
                            .metadata
                            .owner_references
                            .iter()
                            .filter(|o| o.uid != *uid)
                            .collect();
                        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": pod.metadata.resource_version}});
                        release_or_adopt(&api, &pod.metadata.name, &patch).await?;
                    }
                }
                None if matches && !pod.metadata.is_deleting() && !rs.metadata.is_deleting() => {
                    let mut refs = pod.metadata.owner_references.clone();
                    refs.push(controller_ref(rs));
                    let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": pod.metadata.resource_version}});
                    if let Some(adopted) =
                        release_or_adopt(&api, &pod.metadata.name, &patch).await?
                    {
                        owned.push(Arc::new(adopted));
                    }
                }
                _ => {}
            }
        }
        Ok(owned)
    }

    /// Creates or deletes Pods so that `active` becomes `desired`.
    async fn manage(
        &self,
        rs: &ReplicaSet,
        key: &ObjectKey,
        active: &[Arc<Pod>],
        desired: usize,
    ) -> Result<(), Error> {
        let api = self.pods_api(&rs.metadata.namespace);
        if active.len() < desired {
            let count = (desired - active.len()).min(self.burst_replicas);
            let pods = vec![pod_from_template(rs); count];
            let owner = Owner {
                key,
                reference: object_reference(rs),
                expectations: &self.expectations,
                recorder: &self.recorder,
            };
            create_pods(&api, &pods, &owner).await?;
        } else if active.len() > desired {
            let count = (active.len() - desired).min(self.burst_replicas);
            let mut doomed: Vec<&Arc<Pod>> = active.iter().collect();
            doomed.sort_by(|a, b| deletion_order(a, b));
            doomed.truncate(count);
            let names: Vec<String> = doomed.iter().map(|p| p.metadata.name.clone()).collect();
            self.expectations.expect(key, std::iter::empty(), names.iter().cloned());
            let params = DeleteParams::default();
            let results = join_all(names.iter().map(|n| api.delete(n, &params))).await;
            for r in results {
                match r {
                    Ok(_) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let message = format!("Deleted {} pod(s)", names.len());
            let _ = self
                .recorder
                .record(&object_reference(rs), EventType::Normal, "SuccessfulDelete", &message)
                .await;
        }
        Ok(())
    }
}

/// Adopts or releases with a patch guarded by the Pod's resourceVersion;
/// `None` if the Pod went meanwhile. A Pod that changed meanwhile fails
/// with `Conflict`, so that the reconcile is retried on fresh state rather
/// than going on without it (as Kubernetes' ReplicaSet controller does not
/// manage replicas when claiming Pods failed) — else a conflict on an orphan
/// being adopted would have the ReplicaSet create one Pod too many.
async fn release_or_adopt(
    api: &Api<Pod>,
    name: &str,
    patch: &serde_json::Value,
) -> Result<Option<Pod>, Error> {
    match api.patch(name, patch).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// ReplicaSets that could adopt an orphan Pod.
fn orphan_owners(replica_sets: &Cache<ReplicaSet>, pod: &Pod) -> Vec<ObjectKey> {
    if pod.metadata.controller_owner().is_some() {
        return Vec::new();
    }
    replica_sets
        .by_index(INDEX_NAMESPACE, &pod.metadata.namespace)
        .iter()
        .filter(|rs| {
            LabelSelector::from_object(&rs.spec.selector)
                .is_ok_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels))
        })
        .map(|rs| ObjectKey::of(&**rs))
        .collect()
}

/// A Pod as the ReplicaSet's template describes it.
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = &rs.spec.template;
    Pod {
        metadata: ObjectMeta {
            generate_name: format!("{}-", rs.metadata.name),
            namespace: rs.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            finalizers: template.metadata.finalizers.clone(),
            owner_references: vec![controller_ref(rs)],
            ..Default::default()
        },
        spec: template.spec.clone(),
        ..Default::default()
    }
}

/// The status a ReplicaSet should report for these owned Pods.
fn compute_status(rs: &ReplicaSet, owned: &[Arc<Pod>], now: Time) -> ReplicaSetStatus {
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let active: Vec<&Arc<Pod>> = owned.iter().filter(|p| is_active(p)).collect();
    let template_labels = &rs.spec.template.metadata.labels;
    let fully_labeled = active
        .iter()
        .filter(|p| template_labels.iter().all(|(k, v)| p.metadata.labels.get(k) == Some(v)))
        .count();
    let mut status = rs.status.clone().unwrap_or_default();
    status.replicas = active.len() as i32;
    status.fully_labeled_replicas = Some(fully_labeled as i32);
    status.ready_replicas = Some(active.iter().filter(|p| is_ready(p)).count() as i32);
    status.available_replicas =
        Some(active.iter().filter(|p| is_available(p, min_ready, now)).count() as i32);
    status.observed_generation = Some(rs.metadata.generation);
    status
}

#[async_trait]
impl Reconciler for ReplicaSetController {
    type Object = ReplicaSet;
    type Error = Error;

    async fn reconcile(&self, rs: Arc<ReplicaSet>, ctx: &Context) -> Result<Action, Error> {
        let key = &ctx.key;
        let selector = match LabelSelector::from_object(&rs.spec.selector) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) | Err(_) => {
                let _ = self
                    .recorder
                    .record(
                        &object_reference(&*rs),
                        EventType::Warning,
                        "InvalidSelector",
                        "spec.selector is empty or invalid",
                    )
                    .await;
                return Ok(Action::await_change());
            }
        };
        // Expectations first, then the Pods (as Kubernetes' syncReplicaSet):
        // checked after reading the cache, a create that reached the cache in
        // between would count as seen while missing from the Pods read, and
        // the ReplicaSet would create one Pod too many.
        let synced = self.expectations.satisfied_by(key, &self.pods);
        let owned = self.claim_pods(&rs, &selector).await?;
        let active: Vec<Arc<Pod>> = owned.iter().filter(|p| is_active(p)).cloned().collect();
        let mut manage_result = Ok(());
        if synced && !rs.metadata.is_deleting() {
            let desired = rs.spec.replicas.unwrap_or(1).max(0) as usize;
            manage_result = self.manage(&rs, key, &active, desired).await;
        }
        let now = Time::now();
        let status = compute_status(&rs, &owned, now);
        if rs.status.as_ref() != Some(&status) {
            let api: Api<ReplicaSet> = Api::namespaced(self.store.clone(), &rs.metadata.namespace);
            match api.patch_status(&rs.metadata.name, &json!({ "status": status })).await {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        manage_result?;
        // Pods Ready but not yet available: look again when they will be.
        let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
        let next = active.iter().filter_map(|p| seconds_until_available(p, min_ready)).min();
        Ok(match next {
            Some(s) => Action::requeue(Duration::from_secs(s as u64)),
            None => Action::await_change(),
        })
    }
}
