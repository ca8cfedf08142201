//! The pod garbage collector, after kube-controller-manager's `podgc`
//! controller. Every [`PodGcConfig::period`] (20 s, podgc's `gcCheckPeriod`)
//! it force-deletes (grace period 0, preconditioned on the Pod's uid):
//!
//! * **terminated Pods** (`Succeeded` or `Failed`) beyond
//!   [`PodGcConfig::terminated_pod_threshold`] (12,500, Kubernetes'
//!   `--terminated-pod-gc-threshold`; 0 turns this off), oldest first;
//! * **orphaned Pods**: bound to a Node that does not exist — terminating
//!   ones included, whose node agent is gone and will never finish them. The
//!   Node's absence is confirmed with a live read first (podgc's
//!   quarantine), so a cache that lags a Node's registration deletes
//!   nothing;
//! * **unscheduled terminating Pods**: marked for deletion but bound to no
//!   node, so no node agent will finish them;
//! * **terminating Pods on out-of-service Nodes**: the Node is not Ready and
//!   carries the `node.kubernetes.io/out-of-service` taint (an admin's mark
//!   that the machine is down for good).
//!
//! Which Pods go is [`pods_to_collect`], a function of the cached Pods and
//! Nodes; [`PodGc::collect_once`] carries it out.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use orch_core::api::{Api, DeleteParams, Preconditions};
use orch_core::condition::find_condition;
use orch_core::controller::{Cache, InformerFactory, ObjectKey};
use orch_core::kinds::node::Node;
use orch_core::kinds::pod::{Pod, PodPhase};
use orch_core::store::Store;
use orch_core::Error;
use tokio_util::sync::CancellationToken;

/// The taint that marks a Node out of service (Kubernetes'
/// `node.kubernetes.io/out-of-service`).
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// Settings of the [`PodGc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodGcConfig {
    /// Time between collections (default 20 s).
    pub period: Duration,
    /// Terminated Pods kept; the oldest beyond it are deleted (default
    /// 12,500; 0 keeps them all).
    pub terminated_pod_threshold: usize,
}

impl Default for PodGcConfig {
    /// kube-controller-manager's defaults: 20 s, 12,500.
    fn default() -> Self {
        PodGcConfig { period: Duration::from_secs(20), terminated_pod_threshold: 12_500 }
    }
}

/// Why a Pod is collected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GcReason {
    /// Terminated, and beyond the threshold.
    Terminated,
    /// Bound to a Node that does not exist.
    Orphaned {
        /// The missing Node.
        node: String,
    },
    /// Terminating and bound to no node.
    UnscheduledTerminating,
    /// Terminating on a Node that is out of service.
    OutOfService {
        /// The Node.
        node: String,
    },
}

/// A Pod to delete, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collect {
    /// Namespace and name.
    pub key: ObjectKey,
    /// The Pod's uid (the deletion's precondition).
    pub uid: String,
    /// Why.
    pub reason: GcReason,
}

fn is_terminated(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase),
        Some(PodPhase::Succeeded | PodPhase::Failed)
    )
}

fn is_out_of_service(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready"))
        .is_some_and(|c| c.status == "True");
    !ready && node.spec.taints.iter().any(|t| t.key == TAINT_OUT_OF_SERVICE)
}

/// The Pods to collect among `pods`, given the `nodes` that exist (by
/// name), each Pod once: terminated ones beyond `terminated_threshold`
/// (oldest by creation time first; 0 collects none), then orphaned,
/// unscheduled-terminating and out-of-service-terminating ones.
pub fn pods_to_collect(
    pods: &[Arc<Pod>],
    nodes: &HashMap<String, Arc<Node>>,
    terminated_threshold: usize,
) -> Vec<Collect> {
    let collect = |pod: &Pod, reason: GcReason| Collect {
        key: ObjectKey::new(pod.metadata.namespace.clone(), pod.metadata.name.clone()),
        uid: pod.metadata.uid.clone(),
        reason,
    };
    let mut out = Vec::new();
    let mut taken = HashSet::new();
    let mut terminated: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_terminated(p)).collect();
    if terminated_threshold > 0 && terminated.len() > terminated_threshold {
        terminated.sort_by(|a, b| {
            let created = |p: &Pod| p.metadata.creation_timestamp.map(|t| t.0);
            created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        for p in &terminated[..terminated.len() - terminated_threshold] {
            taken.insert(p.metadata.uid.clone());
            out.push(collect(p, GcReason::Terminated));
        }
    }
    for p in pods.iter().filter(|p| !taken.contains(&p.metadata.uid)) {
        let node = p.spec.node_name.as_deref().filter(|n| !n.is_empty());
        let reason = match node {
            Some(n) => match nodes.get(n) {
                None => Some(GcReason::Orphaned { node: n.to_owned() }),
                Some(node) if p.metadata.is_deleting() && is_out_of_service(node) => {
                    Some(GcReason::OutOfService { node: n.to_owned() })
                }
                Some(_) => None,
            },
            None if p.metadata.is_deleting() => Some(GcReason::UnscheduledTerminating),
            None => None,
        };
        if let Some(reason) = reason {
            out.push(collect(p, reason));
        }
    }
    out
}

/// The pod garbage collector. See the [module docs](self).
#[must_use = "a PodGc does nothing until run"]
pub struct PodGc {
    store: Arc<dyn Store>,
    pods: Cache<Pod>,
    nodes: Cache<Node>,
    config: PodGcConfig,
}

impl std::fmt::Debug for PodGc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodGc").field("config", &self.config).finish()
    }
}

impl PodGc {
    /// A collector reading Pods and Nodes from the factory's informers.
    pub fn new(factory: &InformerFactory, config: PodGcConfig) -> Self {
        PodGc {
            store: factory.store().clone(),
            pods: factory.informer::<Pod>().cache().clone(),
            nodes: factory.informer::<Node>().cache().clone(),
            config,
        }
    }

    /// Collects once: deletes what [`pods_to_collect`] names (an orphan
    /// only once its Node is confirmed gone) and returns what it deleted.
    /// A Pod already gone, or re-created under its name, is skipped.
    ///
    /// Errors: the first failed Api call (the rest are still tried).
    pub async fn collect_once(&self) -> Result<Vec<Collect>, Error> {
        let nodes: HashMap<String, Arc<Node>> =
            self.nodes.list().into_iter().map(|n| (n.metadata.name.clone(), n)).collect();
        let decided =
            pods_to_collect(&self.pods.list(), &nodes, self.config.terminated_pod_threshold);
        let node_api: Api<Node> = Api::all(self.store.clone());
        let mut deleted = Vec::new();
        let mut first_error = None;
        for c in decided {
            if let GcReason::Orphaned { node } = &c.reason {
                match node_api.get_opt(node).await {
                    Ok(None) => {}
                    Ok(Some(_)) => continue, // the cache lagged: it exists
                    Err(e) => {
                        first_error.get_or_insert(e);
                        continue;
                    }
                }
            }
            let api: Api<Pod> = Api::namespaced(self.store.clone(), &c.key.namespace);
            let force = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(c.uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&c.key.name, &force).await {
                Ok(_) => {
                    tracing::info!(pod = %c.key, reason = ?c.reason, "pod garbage-collected");
                    deleted.push(c);
                }
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(deleted),
        }
    }

    /// Collects every `period` until `shutdown`, once the Pod and Node
    /// caches have listed.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if self.pods.is_ready() && self.nodes.is_ready() {
                if let Err(e) = self.collect_once().await {
                    tracing::warn!(error = %e, "pod garbage collection failed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.config.period) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_core::kinds::node::{NodeCondition, NodeStatus, Taint};
    use orch_core::kinds::pod::PodStatus;
    use orch_core::{ObjectMeta, Time};

    fn pod(name: &str, node: Option<&str>, phase: Option<PodPhase>, age_s: i64) -> Arc<Pod> {
        let mut meta = ObjectMeta::named(name);
        meta.namespace = "default".into();
        meta.uid = format!("uid-{name}");
        meta.creation_timestamp = Some(Time(chrono::Utc::now() - chrono::Duration::seconds(age_s)));
        let mut p = Pod { metadata: meta, ..Default::default() };
        p.spec.node_name = node.map(str::to_owned);
        p.status = Some(PodStatus { phase, ..Default::default() });
        Arc::new(p)
    }

    fn deleting(p: Arc<Pod>) -> Arc<Pod> {
        let mut p = (*p).clone();
        p.metadata.deletion_timestamp = Some(Time::now());
        Arc::new(p)
    }

    fn node(name: &str, ready: bool, out_of_service: bool) -> (String, Arc<Node>) {
        let mut n = Node { metadata: ObjectMeta::named(name), ..Default::default() };
        n.status = Some(NodeStatus {
            conditions: vec![NodeCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "Unknown" }.into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        if out_of_service {
            n.spec.taints.push(Taint {
                key: TAINT_OUT_OF_SERVICE.into(),
                value: None,
                effect: "NoExecute".into(),
                time_added: None,
            });
        }
        (name.to_owned(), Arc::new(n))
    }

    fn names(collected: &[Collect]) -> Vec<(&str, GcReason)> {
        collected.iter().map(|c| (c.key.name.as_str(), c.reason.clone())).collect()
    }

    #[test]
    fn terminated_pods_beyond_the_threshold_go_oldest_first() {
        let nodes = HashMap::from([node("n1", true, false)]);
        let pods = vec![
            pod("new", Some("n1"), Some(PodPhase::Succeeded), 10),
            pod("oldest", Some("n1"), Some(PodPhase::Failed), 300),
            pod("running", Some("n1"), Some(PodPhase::Running), 900),
            pod("older", Some("n1"), Some(PodPhase::Succeeded), 200),
        ];
        assert_eq!(
            names(&pods_to_collect(&pods, &nodes, 1)),
            [("oldest", GcReason::Terminated), ("older", GcReason::Terminated)]
        );
        assert!(pods_to_collect(&pods, &nodes, 3).is_empty(), "within the threshold");
        assert!(pods_to_collect(&pods, &nodes, 0).is_empty(), "0 keeps them all");
    }

    #[test]
    fn orphans_unscheduled_terminating_and_out_of_service_terminating_pods_go() {
        let nodes = HashMap::from([
            node("up", true, false),
            node("down", false, false),
            node("retired", false, true),
        ]);
        let pods = vec![
            pod("on-up", Some("up"), Some(PodPhase::Running), 1),
            pod("on-gone", Some("gone"), Some(PodPhase::Running), 1),
            deleting(pod("terminating-on-gone", Some("gone"), Some(PodPhase::Running), 1)),
            pod("pending", None, None, 1),
            deleting(pod("terminating-unscheduled", None, None, 1)),
            deleting(pod("terminating-on-down", Some("down"), Some(PodPhase::Running), 1)),
            pod("running-on-retired", Some("retired"), Some(PodPhase::Running), 1),
            deleting(pod("terminating-on-retired", Some("retired"), Some(PodPhase::Running), 1)),
        ];
        let gone = || GcReason::Orphaned { node: "gone".into() };
        assert_eq!(
            names(&pods_to_collect(&pods, &nodes, 12_500)),
            [
                ("on-gone", gone()),
                ("terminating-on-gone", gone()),
                ("terminating-unscheduled", GcReason::UnscheduledTerminating),
                ("terminating-on-retired", GcReason::OutOfService { node: "retired".into() }),
            ]
        );
    }

    #[test]
    fn a_pod_is_collected_once() {
        let pods = vec![
            pod("old-orphan", Some("gone"), Some(PodPhase::Failed), 100),
            pod("new-orphan", Some("gone"), Some(PodPhase::Failed), 1),
        ];
        let collected = pods_to_collect(&pods, &HashMap::new(), 1);
        assert_eq!(
            names(&collected),
            [
                ("old-orphan", GcReason::Terminated),
                ("new-orphan", GcReason::Orphaned { node: "gone".into() }),
            ]
        );
    }
}
