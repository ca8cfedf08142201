//! When the cluster is ready: the workloads the manifests applied, their
//! status, and the wait for them (failing fast on a Pod the scheduler
//! rejects).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_core::api::ListParams;
use orch_core::manifest::ManifestObject;
use orch_core::store::Store;
use orch_core::{Api, Deployment, Pod, ReplicaSet};

use crate::display::{address, is_ready, Display};

#[derive(Clone, Debug, Default)]
pub struct Workloads {
    pub deployments: Vec<(String, String)>,
    pub replica_sets: Vec<(String, String)>,
}

impl Workloads {
    pub fn from(objects: &[ManifestObject]) -> Self {
        let mut w = Workloads::default();
        for o in objects {
            let ns = if o.object.metadata.namespace.is_empty() {
                "default".to_owned()
            } else {
                o.object.metadata.namespace.clone()
            };
            match o.resource.kind.as_str() {
                "Deployment" => w.deployments.push((ns, o.object.metadata.name.clone())),
                "ReplicaSet" => w.replica_sets.push((ns, o.object.metadata.name.clone())),
                _ => {}
            }
        }
        w
    }

    async fn ready(&self, store: &Arc<dyn Store>) -> bool {
        for (ns, name) in &self.deployments {
            let Ok(Some(d)) = Api::<Deployment>::namespaced(store.clone(), ns).get_opt(name).await
            else {
                return false;
            };
            let want = d.spec.replicas();
            let s = d.status.clone().unwrap_or_default();
            let ok = s.observed_generation == Some(d.metadata.generation)
                && s.updated_replicas == Some(want)
                && s.ready_replicas.unwrap_or(0) == want
                && s.replicas == Some(want);
            if !ok {
                return false;
            }
        }
        for (ns, name) in &self.replica_sets {
            let Ok(Some(rs)) = Api::<ReplicaSet>::namespaced(store.clone(), ns).get_opt(name).await
            else {
                return false;
            };
            if rs.status.and_then(|s| s.ready_replicas).unwrap_or(0)
                != rs.spec.replicas.unwrap_or(1)
            {
                return false;
            }
        }
        true
    }
}

pub async fn all_pods(store: &Arc<dyn Store>) -> Vec<Pod> {
    Api::<Pod>::all(store.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Waits until the workloads are ready. `Err` carries the reasons.
pub async fn wait_ready(
    store: &Arc<dyn Store>,
    workloads: &Workloads,
    display: &mut Display,
    timeout: Duration,
) -> Result<(), Vec<String>> {
    let start = Instant::now();
    let mut unschedulable_since: HashMap<String, Instant> = HashMap::new();
    loop {
        // The workloads' status first, then the pods: a pod the status
        // counts as ready is ready in the list read after it, so it must
        // have answered too.
        let ready = workloads.ready(store).await;
        let pods = all_pods(store).await;
        display.show(&pods);
        // Ready, and every ready pod that serves HTTP has answered.
        let answered = pods
            .iter()
            .filter(|p| !p.metadata.is_deleting() && is_ready(p) && address(p).is_some())
            .all(|p| display.answered.contains_key(&p.metadata.name));
        if ready && answered {
            return Ok(());
        }
        // Fail fast: a pod the scheduler has rejected for 5 s will not fit
        // this fixed cluster.
        for p in &pods {
            let rejected = p.status.as_ref().and_then(|s| {
                s.conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False")
            });
            match rejected {
                Some(c) => {
                    let since = *unschedulable_since
                        .entry(p.metadata.name.clone())
                        .or_insert_with(Instant::now);
                    if since.elapsed() >= Duration::from_secs(5) {
                        return Err(vec![format!(
                            "pod {} cannot be scheduled: {}",
                            p.metadata.name,
                            c.message.clone().unwrap_or_default()
                        )]);
                    }
                }
                None => {
                    unschedulable_since.remove(&p.metadata.name);
                }
            }
        }
        if start.elapsed() >= timeout {
            let mut reasons = Vec::new();
            for p in pods.iter().filter(|p| !is_ready(p)) {
                let s = p.status.clone().unwrap_or_default();
                let waiting: Vec<String> = s
                    .container_statuses
                    .iter()
                    .filter_map(|c| {
                        c.state.as_ref()?.waiting.as_ref().map(|w| {
                            format!(
                                "{}: {} {}",
                                c.name,
                                w.reason.clone().unwrap_or_default(),
                                w.message.clone().unwrap_or_default()
                            )
                        })
                    })
                    .collect();
                reasons.push(format!(
                    "pod {} not ready ({:?}) {}",
                    p.metadata.name,
                    s.phase,
                    waiting.join("; ")
                ));
            }
            if reasons.is_empty() {
                reasons.push(format!("workloads not ready after {timeout:?}"));
            }
            return Err(reasons);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
