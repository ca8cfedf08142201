//! The taint eviction controller, after Kubernetes' `taint-eviction-controller`
//! (the `NoExecute` taint manager): a pod bound to a node with a
//! `NoExecute` taint it does not tolerate is deleted at once; one that
//! tolerates every such taint is deleted when the shortest
//! `tolerationSeconds` of the tolerations used runs out, counted from when
//! this controller first saw the taint (as Kubernetes' taint manager; a
//! taint's `timeAdded` has a resolution of a second, and `kubectl taint`
//! sets none). A toleration without seconds tolerates for ever. After a
//! restart the count starts again, as in Kubernetes. Any `NoExecute` taint counts: the node
//! lifecycle controller's and a user's.
//!
//! A pod without a toleration for `node.kubernetes.io/not-ready` or
//! `node.kubernetes.io/unreachable` tolerates it for
//! [`TaintEvictionConfig::default_toleration_seconds`] (300 s), as the
//! tolerations Kubernetes' `DefaultTolerationSeconds` admission plugin adds
//! to every pod.
//!
//! Deletion uses the pod's own grace period; an Event `TaintManagerEviction`
//! is recorded on the pod.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use orch_core::api::{Api, DeleteParams};
use orch_core::controller::{
    object_reference, Action, Cache, Context, Controller, EventRecorder, EventType,
    InformerFactory, ObjectKey, Reconciler, INDEX_NODE_NAME,
};
use orch_core::kinds::node::{Node, Taint};
use orch_core::kinds::pod::{Pod, Toleration};
use orch_core::store::Store;
use orch_core::Error;

use crate::node_lifecycle::{TAINT_NOT_READY, TAINT_UNREACHABLE};

/// Settings of the [`TaintEvictionController`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaintEvictionConfig {
    /// Seconds a pod without a toleration of its own tolerates the
    /// not-ready and unreachable taints (the `DefaultTolerationSeconds`
    /// admission plugin's `--default-not-ready-toleration-seconds` and
    /// `--default-unreachable-toleration-seconds`; default 300).
    pub default_toleration_seconds: u64,
}

impl Default for TaintEvictionConfig {
    fn default() -> Self {
        TaintEvictionConfig { default_toleration_seconds: 300 }
    }
}

/// When a pod must leave a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// A `NoExecute` taint it does not tolerate, or a toleration run out.
    Now,
    /// When its shortest toleration runs out.
    At(DateTime<Utc>),
    /// It tolerates every taint for ever (or there is none).
    Never,
}

/// When a pod with `tolerations` must leave a node with `taints` — its
/// `NoExecute` taints, each with the time it was added — at `now`. Each
/// taint is tolerated by the first toleration that tolerates it (as
/// Kubernetes' `GetMatchingTolerations`), or for `default_seconds` if it is
/// the not-ready or unreachable taint and no toleration does.
pub fn eviction(
    tolerations: &[Toleration],
    taints: &[(&Taint, DateTime<Utc>)],
    default_seconds: u64,
    now: DateTime<Utc>,
) -> Eviction {
    let mut at: Option<DateTime<Utc>> = None;
    for (taint, added) in taints {
        let seconds = match tolerations.iter().find(|t| t.tolerates(taint)) {
            Some(t) => t.toleration_seconds,
            None if [TAINT_NOT_READY, TAINT_UNREACHABLE].contains(&taint.key.as_str()) => {
                Some(i64::try_from(default_seconds).unwrap_or(i64::MAX))
            }
            None => return Eviction::Now,
        };
        if let Some(seconds) = seconds {
            let until = *added + chrono::Duration::seconds(seconds.clamp(0, i64::MAX / 1000));
            at = Some(at.map_or(until, |at| at.min(until)));
        }
    }
    match at {
        Some(at) if at <= now => Eviction::Now,
        Some(at) => Eviction::At(at),
        None => Eviction::Never,
    }
}

/// A taint, and when it was first seen.
type SeenTaint = (Taint, DateTime<Utc>);

/// The taint eviction controller. See the [module docs](self).
pub struct TaintEvictionController {
    store: Arc<dyn Store>,
    pods: Cache<Pod>,
    config: TaintEvictionConfig,
    /// Per node, when each of its `NoExecute` taints was first seen here.
    first_seen: Mutex<HashMap<String, Vec<SeenTaint>>>,
    recorder: EventRecorder,
}

impl std::fmt::Debug for TaintEvictionController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaintEvictionController").field("config", &self.config).finish()
    }
}

impl TaintEvictionController {
    /// A controller reading Pods from the factory's informer.
    pub fn new(factory: &InformerFactory, config: TaintEvictionConfig) -> Self {
        TaintEvictionController {
            store: factory.store().clone(),
            pods: factory.informer::<Pod>().cache().clone(),
            config,
            first_seen: Mutex::new(HashMap::new()),
            recorder: EventRecorder::new(
                factory.store().clone(),
                "taint-eviction-controller",
                None,
            ),
        }
    }

    /// The runner: Nodes, and the Pods bound to them.
    pub fn controller(factory: Arc<InformerFactory>) -> Controller<Node> {
        Controller::<Node>::new(factory)
            .watches::<Pod>(|pod: &Pod| {
                pod.spec.node_name.iter().map(|n| ObjectKey::new("", n.clone())).collect()
            })
            .name("taint-eviction")
    }

    /// `node`'s `NoExecute` taints with the time each was first seen here.
    fn timed_taints<'a>(
        &self,
        node: &'a Node,
        now: DateTime<Utc>,
    ) -> Vec<(&'a Taint, DateTime<Utc>)> {
        let mut first_seen = self.first_seen.lock();
        let seen = first_seen.entry(node.metadata.name.clone()).or_default();
        let taints: Vec<&Taint> =
            node.spec.taints.iter().filter(|t| t.effect == "NoExecute").collect();
        // A taint that went is forgotten: if it comes back, it is new.
        seen.retain(|(t, _)| taints.iter().any(|current| same_taint(current, t)));
        let timed = taints
            .into_iter()
            .map(|t| match seen.iter().find(|(s, _)| same_taint(s, t)) {
                Some((_, at)) => (t, *at),
                None => {
                    seen.push((t.clone(), now));
                    (t, now)
                }
            })
            .collect();
        if seen.is_empty() {
            first_seen.remove(&node.metadata.name);
        }
        timed
    }

    async fn evict(&self, pod: &Pod) -> Result<(), Error> {
        let api: Api<Pod> = Api::namespaced(self.store.clone(), &pod.metadata.namespace);
        match api.delete(&pod.metadata.name, &DeleteParams::default()).await {
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let message =
            format!("Marking for deletion Pod {}/{}", pod.metadata.namespace, pod.metadata.name);
        let _ = self
            .recorder
            .record(&object_reference(pod), EventType::Normal, "TaintManagerEviction", &message)
            .await;
        Ok(())
    }
}

/// The same taint, whenever it was added.
fn same_taint(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.value == b.value && a.effect == b.effect
}

#[async_trait]
impl Reconciler for TaintEvictionController {
    type Object = Node;
    type Error = Error;

    async fn reconcile(&self, node: Arc<Node>, _ctx: &Context) -> Result<Action, Error> {
        let now = Utc::now();
        let taints = self.timed_taints(&node, now);
        if taints.is_empty() {
            return Ok(Action::await_change());
        }
        let mut next: Option<DateTime<Utc>> = None;
        for pod in self.pods.by_index(INDEX_NODE_NAME, &node.metadata.name) {
            if pod.metadata.is_deleting() {
                continue;
            }
            let defaults = self.config.default_toleration_seconds;
            match eviction(&pod.spec.tolerations, &taints, defaults, now) {
                Eviction::Now => self.evict(&pod).await?,
                Eviction::At(at) => next = Some(next.map_or(at, |n| n.min(at))),
                Eviction::Never => {}
            }
        }
        Ok(match next {
            Some(at) => Action::requeue((at - now).to_std().unwrap_or_default()),
            None => Action::await_change(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str) -> Taint {
        Taint { key: key.into(), value: None, effect: "NoExecute".into(), time_added: None }
    }

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: seconds,
            ..Default::default()
        }
    }

    #[test]
    fn eviction_follows_the_tolerations_of_every_no_execute_taint() {
        let t0 = Utc::now();
        let secs = chrono::Duration::seconds;
        let (user, unreachable) = (taint("dedicated"), taint(TAINT_UNREACHABLE));
        type Case<'a> = (&'a str, Vec<Toleration>, Vec<(&'a Taint, DateTime<Utc>)>, Eviction);
        let cases: Vec<Case> = vec![
            ("no taints", vec![], vec![], Eviction::Never),
            ("an untolerated user taint", vec![], vec![(&user, t0)], Eviction::Now),
            (
                "tolerated for 30 s",
                vec![toleration("dedicated", Some(30))],
                vec![(&user, t0)],
                Eviction::At(t0 + secs(30)),
            ),
            (
                "tolerated for ever",
                vec![toleration("dedicated", None)],
                vec![(&user, t0)],
                Eviction::Never,
            ),
            (
                "ran out",
                vec![toleration("dedicated", Some(30))],
                vec![(&user, t0 - secs(31))],
                Eviction::Now,
            ),
            (
                "unreachable, the default 300 s",
                vec![],
                vec![(&unreachable, t0)],
                Eviction::At(t0 + secs(300)),
            ),
            (
                "the shortest of two",
                vec![toleration("dedicated", Some(30)), toleration(TAINT_UNREACHABLE, Some(10))],
                vec![(&user, t0), (&unreachable, t0)],
                Eviction::At(t0 + secs(10)),
            ),
            (
                "one tolerated for ever, one not at all",
                vec![toleration(TAINT_UNREACHABLE, None)],
                vec![(&unreachable, t0), (&user, t0)],
                Eviction::Now,
            ),
            (
                "the first matching toleration is the one used",
                vec![toleration("dedicated", Some(5)), toleration("dedicated", None)],
                vec![(&user, t0)],
                Eviction::At(t0 + secs(5)),
            ),
            (
                "negative seconds: at once",
                vec![toleration("dedicated", Some(-1))],
                vec![(&user, t0)],
                Eviction::Now,
            ),
        ];
        for (name, tolerations, taints, want) in cases {
            assert_eq!(eviction(&tolerations, &taints, 300, t0), want, "{name}");
        }
    }
}
