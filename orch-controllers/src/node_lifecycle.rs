//! The node lifecycle controller, after Kubernetes' `nodelifecycle`
//! controller: a node whose Lease (`kube-node-lease/<node>`) is not renewed
//! within the grace period (40 s by default) gets `Ready=Unknown` and the
//! `node.kubernetes.io/unreachable:NoExecute` taint; its pods are evicted
//! (deleted) once they have tolerated the taint for their
//! `tolerationSeconds` — 300 s by default for pods without a matching
//! toleration, never for a toleration without seconds — and their
//! ReplicaSets replace them elsewhere. The taint goes when the node renews
//! its Lease again.
//!
//! Time is this controller's own monotonic clock: a Lease counts as renewed
//! when this controller sees it change, never by comparing clocks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::json;
use tokio::time::Instant;

use orch_core::api::{Api, DeleteParams};
use orch_core::condition::{find_condition, set_condition};
use orch_core::controller::{
    object_reference, Action, Cache, Context, Controller, EventRecorder, EventType,
    InformerFactory, ObjectKey, Reconciler, INDEX_NODE_NAME,
};
use orch_core::kinds::lease::Lease;
use orch_core::kinds::node::{Node, NodeCondition, Taint};
use orch_core::kinds::pod::{Pod, Toleration};
use orch_core::store::Store;
use orch_core::Error;
use orch_core::Time;

/// The namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The taint an unreachable node gets.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Settings of the [`NodeLifecycleController`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLifecycleConfig {
    /// A node whose Lease is not renewed for this long is unreachable (default 40 s).
    pub grace_period: Duration,
    /// How long pods without a matching toleration stay on an unreachable
    /// node (default 300 s, Kubernetes' DefaultTolerationSeconds).
    pub default_toleration_seconds: u64,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            grace_period: Duration::from_secs(40),
            default_toleration_seconds: 300,
        }
    }
}

/// The node lifecycle controller. See the [module docs](self).
pub struct NodeLifecycleController {
    store: Arc<dyn Store>,
    leases: Cache<Lease>,
    pods: Cache<Pod>,
    config: NodeLifecycleConfig,
    /// Per node: the Lease resourceVersion last seen, and when it changed.
    observed: Mutex<HashMap<String, (String, Instant)>>,
    recorder: EventRecorder,
}

impl std::fmt::Debug for NodeLifecycleController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLifecycleController").field("config", &self.config).finish()
    }
}

/// Seconds `pod` tolerates an unreachable taint: `Some(n)`, or `None` for ever.
fn tolerated_for(pod: &Pod, default_seconds: u64) -> Option<u64> {
    let taint = Taint {
        key: TAINT_UNREACHABLE.into(),
        value: None,
        effect: "NoExecute".into(),
        time_added: None,
    };
    let matching: Vec<&Toleration> = pod
        .spec
        .tolerations
        .iter()
        .filter(|t| {
            let effect_ok = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
            let key_ok = t.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key);
            let op_ok = match t.operator.as_deref().unwrap_or("Equal") {
                "Exists" => true,
                _ => {
                    t.key.as_deref() == Some(TAINT_UNREACHABLE)
                        && t.value.as_deref().unwrap_or("").is_empty()
                }
            };
            effect_ok && key_ok && op_ok
        })
        .collect();
    if matching.is_empty() {
        return Some(default_seconds);
    }
    // The longest toleration wins; one without seconds tolerates for ever.
    if matching.iter().any(|t| t.toleration_seconds.is_none()) {
        return None;
    }
    matching.iter().filter_map(|t| t.toleration_seconds).max().map(|s| s.max(0) as u64)
}

impl NodeLifecycleController {
    /// A controller reading Leases and Pods from the factory's informers.
    pub fn new(factory: &InformerFactory, config: NodeLifecycleConfig) -> Self {
        NodeLifecycleController {
            store: factory.store().clone(),
            leases: factory.informer::<Lease>().cache().clone(),
            pods: factory.informer::<Pod>().cache().clone(),
            config,
            observed: Mutex::new(HashMap::new()),
            recorder: EventRecorder::new(factory.store().clone(), "node-controller", None),
        }
    }

    /// The runner: Nodes, and their Leases.
    pub fn controller(factory: Arc<InformerFactory>) -> Controller<Node> {
        Controller::<Node>::new(factory)
            .watches::<Lease>(|lease: &Lease| {
                if lease.metadata.namespace == NODE_LEASE_NAMESPACE {
                    vec![ObjectKey::new("", lease.metadata.name.clone())]
                } else {
                    Vec::new()
                }
            })
            .name("node-lifecycle")
    }

    /// How long since the node's Lease last changed, as seen here.
    fn since_renewal(&self, node: &str) -> Duration {
        let lease_rv = self
            .leases
            .get(&ObjectKey::new(NODE_LEASE_NAMESPACE, node))
            .map(|l| l.metadata.resource_version.clone())
            .unwrap_or_default();
        let mut observed = self.observed.lock();
        let now = Instant::now();
        match observed.get(node) {
            Some((rv, at)) if *rv == lease_rv => now.duration_since(*at),
            _ => {
                observed.insert(node.to_owned(), (lease_rv, now));
                Duration::ZERO
            }
        }
    }

    async fn set_ready_unknown(&self, node: &Node) -> Result<(), Error> {
        let api: Api<Node> = Api::all(self.store.clone());
        let mut updated = node.clone();
        let status = updated.status.get_or_insert_with(Default::default);
        let previous = find_condition(&status.conditions, "Ready");
        if previous.is_some_and(|c| c.status == "Unknown") {
            return Ok(());
        }
        // As Kubernetes' node lifecycle controller: the last heartbeat stays
        // what the agent last posted.
        let unknown = NodeCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            reason: Some("NodeStatusUnknown".into()),
            message: Some("Node agent stopped posting node status.".into()),
            last_transition_time: None,
            last_heartbeat_time: previous.and_then(|c| c.last_heartbeat_time),
        };
        set_condition(&mut status.conditions, unknown, Time::now());
        api.replace_status(&updated).await?;
        let _ = self
            .recorder
            .record(&object_reference(node), EventType::Normal, "NodeNotReady", "Node is not ready")
            .await;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for NodeLifecycleController {
    type Object = Node;
    type Error = Error;

    async fn reconcile(&self, node: Arc<Node>, _ctx: &Context) -> Result<Action, Error> {
        let name = node.metadata.name.clone();
        let since = self.since_renewal(&name);
        let api: Api<Node> = Api::all(self.store.clone());
        let tainted = node
            .spec
            .taints
            .iter()
            .find(|t| t.key == TAINT_UNREACHABLE && t.effect == "NoExecute")
            .cloned();
        if since < self.config.grace_period {
            if tainted.is_some() {
                let taints: Vec<&Taint> =
                    node.spec.taints.iter().filter(|t| t.key != TAINT_UNREACHABLE).collect();
                api.patch(&name, &json!({"spec": {"taints": taints}, "metadata": {"resourceVersion": node.metadata.resource_version}}))
                    .await?;
            }
            // Look again when the grace period would run out.
            return Ok(Action::requeue(
                self.config.grace_period - since + Duration::from_millis(10),
            ));
        }
        self.set_ready_unknown(&node).await?;
        let taint = match tainted {
            Some(t) => t,
            None => {
                let t = Taint {
                    key: TAINT_UNREACHABLE.into(),
                    value: None,
                    effect: "NoExecute".into(),
                    time_added: Some(Time::now()),
                };
                let mut taints = node.spec.taints.clone();
                taints.push(t.clone());
                api.patch(&name, &json!({"spec": {"taints": taints}, "metadata": {"resourceVersion": node.metadata.resource_version}}))
                    .await?;
                t
            }
        };
        let added = taint.time_added.map_or_else(chrono::Utc::now, |t| t.0);
        let mut next: Option<Duration> = None;
        for pod in self.pods.by_index(INDEX_NODE_NAME, &name) {
            if pod.metadata.is_deleting() {
                continue;
            }
            let Some(seconds) = tolerated_for(&pod, self.config.default_toleration_seconds) else {
                continue;
            };
            let evict_at = added + chrono::Duration::seconds(seconds as i64);
            let left = (evict_at - chrono::Utc::now()).to_std().unwrap_or_default();
            if left.is_zero() {
                let pods: Api<Pod> = Api::namespaced(self.store.clone(), &pod.metadata.namespace);
                match pods.delete(&pod.metadata.name, &DeleteParams::default()).await {
                    Ok(_) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                let _ = self
                    .recorder
                    .record(
                        &object_reference(&*pod),
                        EventType::Normal,
                        "TaintManagerEviction",
                        &format!(
                            "Marking for deletion Pod {}/{}",
                            pod.metadata.namespace, pod.metadata.name
                        ),
                    )
                    .await;
            } else {
                next = Some(next.map_or(left, |n| n.min(left)));
            }
        }
        // Watch for the node's return, and for the next eviction.
        let recheck = Duration::from_secs(1).min(self.config.grace_period);
        Ok(Action::requeue(next.map_or(recheck, |n| n.min(recheck))))
    }
}
