//! The node lifecycle controller, after Kubernetes' `nodelifecycle`
//! controller. It watches each node's health and taints the node for what
//! it sees; the [taint eviction controller](crate::taint_eviction) evicts
//! the pods the `NoExecute` taints call for.
//!
//! - A node whose Lease (`kube-node-lease/<node>`) is not renewed within
//!   the grace period (40 s by default) gets `Ready=Unknown`.
//! - `Ready=Unknown` calls for `node.kubernetes.io/unreachable`,
//!   `Ready=False` (posted by the node agent) for
//!   `node.kubernetes.io/not-ready`, each as a `NoExecute` taint (with
//!   `timeAdded`) and a `NoSchedule` one; `Ready=True` for neither. A
//!   cordoned node (`spec.unschedulable`) gets
//!   `node.kubernetes.io/unschedulable:NoSchedule`.
//! - `NoSchedule` taints and swaps of one `NoExecute` taint for the other
//!   are immediate; a node newly tainted `NoExecute` is rate limited per
//!   zone as [`disruption`] describes (0.1 nodes per second by default,
//!   slower or not at all in a partially disrupted zone), and when every
//!   zone is fully disrupted nothing is tainted and the `NoExecute` taints
//!   are taken off every node (master disruption mode). On leaving that mode
//!   each node gets a fresh grace period.
//!
//! Time is this controller's own monotonic clock: a Lease counts as renewed
//! when this controller sees it change, never by comparing clocks.

pub mod disruption;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::json;
use tokio::time::Instant;

use orch_core::api::Api;
use orch_core::condition::{find_condition, set_condition};
use orch_core::controller::{
    object_reference, Action, Cache, Context, Controller, EventRecorder, EventType,
    InformerFactory, ObjectKey, Reconciler, TokenBucket,
};
use orch_core::kinds::lease::Lease;
use orch_core::kinds::node::{Node, NodeCondition, Taint};
use orch_core::store::Store;
use orch_core::Error;
use orch_core::Time;

use disruption::{
    all_fully_disrupted, tainting_rate, zone_of, zone_states, EvictionRates, ZoneState,
};

/// The namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The taint of a node whose agent stopped renewing its Lease (`Ready=Unknown`).
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node whose agent reports `Ready=False`.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The `NoSchedule` taint of a cordoned node.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Settings of the [`NodeLifecycleController`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeLifecycleConfig {
    /// A node whose Lease is not renewed for this long is unreachable
    /// (`--node-monitor-grace-period`, default 40 s).
    pub grace_period: Duration,
    /// How fast nodes are tainted for eviction, by zone health.
    pub rates: EvictionRates,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            grace_period: Duration::from_secs(40),
            rates: EvictionRates::default(),
        }
    }
}

/// The node lifecycle controller. See the [module docs](self).
pub struct NodeLifecycleController {
    store: Arc<dyn Store>,
    nodes: Cache<Node>,
    leases: Cache<Lease>,
    config: NodeLifecycleConfig,
    /// Per node: the Lease resourceVersion last seen, and when it changed.
    observed: Mutex<HashMap<String, (String, Instant)>>,
    /// Per zone: the rate limiter of new `NoExecute` taints (burst 1).
    limiters: Mutex<HashMap<String, TokenBucket>>,
    /// Whether every zone was fully disrupted when last looked at.
    master_disruption: AtomicBool,
    recorder: EventRecorder,
}

impl std::fmt::Debug for NodeLifecycleController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLifecycleController").field("config", &self.config).finish()
    }
}

/// The status of `node`'s Ready condition, if it has one.
fn ready_status(node: &Node) -> Option<&str> {
    let conditions = &node.status.as_ref()?.conditions;
    find_condition(conditions, "Ready").map(|c| c.status.as_str())
}

/// The `NoExecute` taint key a Ready status calls for.
pub fn no_execute_taint_for(ready: Option<&str>) -> Option<&'static str> {
    match ready {
        Some("False") => Some(TAINT_NOT_READY),
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => None,
    }
}

/// The `NoSchedule` taint keys a Ready status and cordon call for
/// (Kubernetes' TaintNodesByCondition).
pub fn no_schedule_taints_for(ready: Option<&str>, unschedulable: bool) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = no_execute_taint_for(ready).into_iter().collect();
    if unschedulable {
        keys.push(TAINT_UNSCHEDULABLE);
    }
    keys
}

/// Whether this controller manages `taint` (it adds and removes it).
fn managed(taint: &Taint) -> bool {
    match taint.effect.as_str() {
        "NoExecute" => [TAINT_NOT_READY, TAINT_UNREACHABLE].contains(&taint.key.as_str()),
        "NoSchedule" => {
            [TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE].contains(&taint.key.as_str())
        }
        _ => false,
    }
}

/// `current` with the managed taints replaced by `no_schedule` keys and
/// the `no_execute` key: taints others put there stay, in their order; a
/// managed taint still wanted keeps its `timeAdded`; a new `NoExecute` one
/// is added at `now`.
pub fn desired_taints(
    current: &[Taint],
    no_schedule: &[&str],
    no_execute: Option<&str>,
    now: Time,
) -> Vec<Taint> {
    let wanted = |t: &Taint| match t.effect.as_str() {
        "NoExecute" => no_execute == Some(t.key.as_str()),
        _ => no_schedule.contains(&t.key.as_str()),
    };
    let mut taints: Vec<Taint> =
        current.iter().filter(|t| !managed(t) || wanted(t)).cloned().collect();
    let has = |taints: &[Taint], key: &str, effect: &str| {
        taints.iter().any(|t| t.key == key && t.effect == effect)
    };
    for key in no_schedule {
        if !has(&taints, key, "NoSchedule") {
            let effect = "NoSchedule".to_owned();
            taints.push(Taint { key: (*key).to_owned(), value: None, effect, time_added: None });
        }
    }
    if let Some(key) = no_execute.filter(|k| !has(&taints, k, "NoExecute")) {
        let effect = "NoExecute".to_owned();
        taints.push(Taint { key: key.to_owned(), value: None, effect, time_added: Some(now) });
    }
    taints
}

impl NodeLifecycleController {
    /// A controller reading Nodes and Leases from the factory's informers.
    pub fn new(factory: &InformerFactory, config: NodeLifecycleConfig) -> Self {
        NodeLifecycleController {
            store: factory.store().clone(),
            nodes: factory.informer::<Node>().cache().clone(),
            leases: factory.informer::<Lease>().cache().clone(),
            config,
            observed: Mutex::new(HashMap::new()),
            limiters: Mutex::new(HashMap::new()),
            master_disruption: AtomicBool::new(false),
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

    /// Each zone's state and size, judging every node in the cache by its
    /// Lease and its Ready condition.
    fn zone_states(&self) -> BTreeMap<String, (ZoneState, usize)> {
        let nodes = self.nodes.list();
        let health: Vec<(String, bool)> = nodes
            .iter()
            .map(|n| {
                let fresh = self.since_renewal(&n.metadata.name) < self.config.grace_period;
                (zone_of(n), fresh && ready_status(n) == Some("True"))
            })
            .collect();
        zone_states(
            health.iter().map(|(z, r)| (z.as_str(), *r)),
            self.config.rates.unhealthy_zone_threshold,
        )
    }

    /// Takes a token of `zone`'s tainting limiter at the rate its state
    /// allows; otherwise how long until one could be there (`None`: not
    /// while the zone stays so).
    fn take_tainting_token(
        &self,
        zone: &str,
        state: ZoneState,
        size: usize,
    ) -> Result<(), Option<Duration>> {
        let rate = tainting_rate(state, size, &self.config.rates);
        let now = Instant::now();
        let mut limiters = self.limiters.lock();
        let bucket =
            limiters.entry(zone.to_owned()).or_insert_with(|| TokenBucket::new(rate, 1, now));
        if bucket.qps() != rate {
            bucket.set_qps(rate, now);
        }
        if bucket.try_take(now) {
            Ok(())
        } else {
            Err(bucket.wait(now))
        }
    }

    /// Enters master disruption mode (once): takes the `NoExecute` taints
    /// of this controller off every node.
    async fn enter_master_disruption(&self) -> Result<(), Error> {
        if self.master_disruption.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        tracing::warn!(
            "every node is not Ready: entering master disruption mode, no node is tainted for eviction"
        );
        for node in self.nodes.list() {
            let taints: Vec<Taint> = node
                .spec
                .taints
                .iter()
                .filter(|t| !(managed(t) && t.effect == "NoExecute"))
                .cloned()
                .collect();
            if taints != node.spec.taints {
                match self.patch_taints(&node, &taints).await {
                    // The node's own reconcile takes them off too.
                    Ok(()) | Err(Error::Conflict { .. } | Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Leaves master disruption mode (once): every node gets a fresh grace
    /// period, as Kubernetes resets its probe timestamps.
    fn leave_master_disruption(&self) {
        if self.master_disruption.swap(false, Ordering::SeqCst) {
            tracing::info!("a node is Ready: leaving master disruption mode");
            let now = Instant::now();
            for (_, at) in self.observed.lock().values_mut() {
                *at = now;
            }
        }
    }

    async fn patch_taints(&self, node: &Node, taints: &[Taint]) -> Result<(), Error> {
        let api: Api<Node> = Api::all(self.store.clone());
        let patch = json!({
            "spec": {"taints": taints},
            "metadata": {"resourceVersion": node.metadata.resource_version},
        });
        api.patch(&node.metadata.name, &patch).await.map(drop)
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
        let grace = self.config.grace_period;
        let since = self.since_renewal(&node.metadata.name);
        let fresh = since < grace;
        // Fresh: look again when the grace period would run out; otherwise
        // watch for the node's return every second.
        let mut requeue = if fresh {
            grace - since + Duration::from_millis(10)
        } else {
            self.set_ready_unknown(&node).await?;
            Duration::from_secs(1).min(grace)
        };
        let ready = if fresh { ready_status(&node) } else { Some("Unknown") };
        let no_execute = match no_execute_taint_for(ready) {
            None => None,
            Some(wanted) => {
                let states = self.zone_states();
                if all_fully_disrupted(&states) {
                    self.enter_master_disruption().await?;
                    None
                } else {
                    self.leave_master_disruption();
                    let tainted =
                        node.spec.taints.iter().any(|t| managed(t) && t.effect == "NoExecute");
                    let zone = zone_of(&node);
                    let (state, size) =
                        states.get(&zone).copied().unwrap_or((ZoneState::Normal, 1));
                    // A swap of one NoExecute taint for the other is not limited.
                    let token =
                        if tainted { Ok(()) } else { self.take_tainting_token(&zone, state, size) };
                    match token {
                        Ok(()) => Some(wanted),
                        Err(wait) => {
                            requeue = wait
                                .map_or(requeue, |w| w.max(Duration::from_millis(10)).min(requeue));
                            None
                        }
                    }
                }
            }
        };
        let unschedulable = node.spec.unschedulable == Some(true);
        let no_schedule = no_schedule_taints_for(ready, unschedulable);
        let taints = desired_taints(&node.spec.taints, &no_schedule, no_execute, Time::now());
        if taints != node.spec.taints {
            self.patch_taints(&node, &taints).await?;
        }
        Ok(Action::requeue(requeue))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint { key: key.into(), value: None, effect: effect.into(), time_added: None }
    }

    #[test]
    fn ready_status_calls_for_the_not_ready_or_unreachable_taint() {
        assert_eq!(no_execute_taint_for(Some("False")), Some(TAINT_NOT_READY));
        assert_eq!(no_execute_taint_for(Some("Unknown")), Some(TAINT_UNREACHABLE));
        assert_eq!(no_execute_taint_for(Some("True")), None);
        assert_eq!(no_execute_taint_for(None), None, "no status posted yet");
        assert_eq!(no_schedule_taints_for(Some("True"), true), [TAINT_UNSCHEDULABLE]);
        assert_eq!(no_schedule_taints_for(Some("False"), false), [TAINT_NOT_READY]);
    }

    #[test]
    fn desired_taints_keep_others_and_the_time_a_kept_taint_was_added() {
        let now = Time::now();
        let earlier = Time(now.0 - chrono::Duration::seconds(60));
        let user = Taint { value: Some("x".into()), ..taint("dedicated", "NoExecute") };
        let old = Taint { time_added: Some(earlier), ..taint(TAINT_UNREACHABLE, "NoExecute") };
        let current = vec![user.clone(), old.clone(), taint(TAINT_UNREACHABLE, "NoSchedule")];

        // Still unreachable: nothing changes.
        let same = desired_taints(&current, &[TAINT_UNREACHABLE], Some(TAINT_UNREACHABLE), now);
        assert_eq!(same, current);

        // Now not ready: both unreachable taints swapped, the user's kept.
        let swapped = desired_taints(&current, &[TAINT_NOT_READY], Some(TAINT_NOT_READY), now);
        assert_eq!(
            swapped,
            vec![
                user.clone(),
                taint(TAINT_NOT_READY, "NoSchedule"),
                Taint { time_added: Some(now), ..taint(TAINT_NOT_READY, "NoExecute") },
            ]
        );

        // Ready again: only the user's stays.
        assert_eq!(desired_taints(&current, &[], None, now), vec![user.clone()]);

        // Rate limited: the NoSchedule taint without the NoExecute one.
        let limited = desired_taints(std::slice::from_ref(&user), &[TAINT_NOT_READY], None, now);
        assert_eq!(limited, vec![user, taint(TAINT_NOT_READY, "NoSchedule")]);
    }
}
