//! The scheduling framework: the plugin registry, profiles, and the
//! [`Framework`] that runs a profile's plugins at each extension point.

pub mod config;
mod plugin;
mod waiting;

pub use plugin::*;
pub use waiting::WaitingPods;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use orch_core::store::Store;
use orch_core::Pod;
use serde_json::Value;

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::nominator::{NominatedPods, Nominator};
use crate::status::{Code, Status};
use crate::Error;
use config::{PluginList, PluginRef, ProfileConfig};

/// What plugin factories get: the store (for binders and preemption), the
/// waiting pods of Permit and the nominated pods.
#[derive(Clone, Default)]
pub struct Handle {
    /// The store, when the scheduler binds through one.
    pub store: Option<Arc<dyn Store>>,
    /// Pods held at Permit.
    pub waiting_pods: WaitingPods,
    /// The pods nominated to nodes (kube-scheduler's `PodNominator`), shared
    /// by every profile of a scheduler.
    pub nominator: Nominator,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("store", &self.store.is_some()).finish()
    }
}

/// Builds a plugin from its arguments (`null` if none were configured).
pub type PluginFactory = Arc<dyn Fn(&Value, &Handle) -> Result<PluginSet, Error> + Send + Sync>;

/// Plugins by name. [`Registry::default`] has every default plugin;
/// [`Registry::empty`] has none.
#[derive(Clone)]
pub struct Registry {
    factories: BTreeMap<String, PluginFactory>,
    /// The default `multiPoint` plugins, with score weights.
    defaults: Vec<PluginRef>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    /// A registry with no plugins and no defaults.
    pub fn empty() -> Self {
        Registry { factories: BTreeMap::new(), defaults: Vec::new() }
    }

    /// Registers a plugin.
    ///
    /// Errors: [`Error::Config`] if the name is taken.
    pub fn register(
        &mut self,
        name: &str,
        factory: impl Fn(&Value, &Handle) -> Result<PluginSet, Error> + Send + Sync + 'static,
    ) -> Result<&mut Self, Error> {
        if self.factories.contains_key(name) {
            return Err(Error::Config {
                profile: String::new(),
                reason: format!("plugin {name} is already registered"),
            });
        }
        self.factories.insert(name.to_owned(), Arc::new(factory));
        Ok(self)
    }

    /// Sets the default `multiPoint` plugins (used when a profile does not
    /// disable them).
    pub fn set_defaults(&mut self, defaults: Vec<PluginRef>) -> &mut Self {
        self.defaults = defaults;
        self
    }

    /// Registered names.
    pub fn names(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }
}

fn apply(list: &mut Vec<PluginRef>, changes: &PluginList) {
    for d in &changes.disabled {
        if d.name == "*" {
            list.clear();
        } else {
            list.retain(|p| p.name != d.name);
        }
    }
    for e in &changes.enabled {
        match list.iter_mut().find(|p| p.name == e.name) {
            Some(existing) => {
                if e.weight.is_some() {
                    existing.weight = e.weight;
                }
            }
            None => list.push(e.clone()),
        }
    }
}

type Named<T> = (String, Arc<T>);

/// A profile's plugins, ready to run.
pub struct Framework {
    /// The profile's scheduler name.
    pub scheduler_name: String,
    /// Percentage of nodes to find feasible; `None` for the adaptive default.
    pub percentage_of_nodes_to_score: Option<i32>,
    pre_enqueue: Vec<Named<dyn PreEnqueuePlugin>>,
    queue_sort: Option<Named<dyn QueueSortPlugin>>,
    pre_filter: Vec<Named<dyn PreFilterPlugin>>,
    filter: Vec<Named<dyn FilterPlugin>>,
    post_filter: Vec<Named<dyn PostFilterPlugin>>,
    pre_score: Vec<Named<dyn PreScorePlugin>>,
    score: Vec<(String, Arc<dyn ScorePlugin>, i64)>,
    reserve: Vec<Named<dyn ReservePlugin>>,
    permit: Vec<Named<dyn PermitPlugin>>,
    pre_bind: Vec<Named<dyn PreBindPlugin>>,
    bind: Vec<Named<dyn BindPlugin>>,
    post_bind: Vec<Named<dyn PostBindPlugin>>,
    waiting: WaitingPods,
    nominator: Nominator,
    /// For each PreFilter plugin, the index of the same plugin's Filter.
    pre_filter_to_filter: Vec<Option<usize>>,
}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names =
            |v: &[Named<dyn FilterPlugin>]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        f.debug_struct("Framework")
            .field("scheduler_name", &self.scheduler_name)
            .field("filter", &names(&self.filter))
            .field(
                "score",
                &self.score.iter().map(|(n, _, w)| format!("{n}×{w}")).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The outcome of PreFilter: which Filter plugins can be skipped for this
/// pod (by their index in the profile's filter list).
#[derive(Debug, Default)]
pub struct PreFilterOutcome {
    skip_filters: Vec<bool>,
}

impl PreFilterOutcome {
    fn skips(&self, filter: usize) -> bool {
        self.skip_filters.get(filter).copied().unwrap_or(false)
    }
}

impl Framework {
    /// Builds a profile's plugins from the registry.
    ///
    /// Errors: [`Error::Config`] for an unknown plugin, a plugin enabled at a
    /// point it does not serve, or a profile without a QueueSort or Bind
    /// plugin; a factory's error for bad arguments.
    pub fn new(
        registry: &Registry,
        profile: &ProfileConfig,
        handle: &Handle,
    ) -> Result<Self, Error> {
        let err =
            |reason: String| Error::Config { profile: profile.scheduler_name.clone(), reason };
        let mut multi = registry.defaults.clone();
        apply(&mut multi, &profile.plugins.multi_point);
        let mut sets: BTreeMap<String, PluginSet> = BTreeMap::new();
        let build = |name: &str, sets: &mut BTreeMap<String, PluginSet>| -> Result<(), Error> {
            if sets.contains_key(name) {
                return Ok(());
            }
            let factory = registry.factories.get(name).ok_or_else(|| {
                err(format!(
                    "unknown plugin {name:?} (registered: {})",
                    registry.names().join(", ")
                ))
            })?;
            let set = factory(&profile.args(name), handle)?;
            sets.insert(name.to_owned(), set);
            Ok(())
        };
        for p in &multi {
            build(&p.name, &mut sets)?;
        }
        let mut fw = Framework {
            scheduler_name: profile.scheduler_name.clone(),
            percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score.filter(|p| *p > 0),
            pre_enqueue: Vec::new(),
            queue_sort: None,
            pre_filter: Vec::new(),
            filter: Vec::new(),
            post_filter: Vec::new(),
            pre_score: Vec::new(),
            score: Vec::new(),
            reserve: Vec::new(),
            permit: Vec::new(),
            pre_bind: Vec::new(),
            bind: Vec::new(),
            post_bind: Vec::new(),
            waiting: handle.waiting_pods.clone(),
            nominator: handle.nominator.clone(),
            pre_filter_to_filter: Vec::new(),
        };
        for point in [
            "preEnqueue",
            "queueSort",
            "preFilter",
            "filter",
            "postFilter",
            "preScore",
            "score",
            "reserve",
            "permit",
            "preBind",
            "bind",
            "postBind",
        ] {
            // Plugins of the multiPoint set that serve this point, then the
            // point's own changes.
            let mut list: Vec<PluginRef> = multi
                .iter()
                .filter(|p| sets[&p.name].points().iter().any(|(n, served)| *n == point && *served))
                .cloned()
                .collect();
            if let Some(changes) = profile.plugins.point(point) {
                apply(&mut list, changes);
            }
            for p in &list {
                build(&p.name, &mut sets)?;
                let set = &sets[&p.name];
                let name = p.name.clone();
                let missing =
                    || err(format!("plugin {name:?} does not serve the {point} extension point"));
                match point {
                    "preEnqueue" => fw
                        .pre_enqueue
                        .push((name.clone(), set.pre_enqueue.clone().ok_or_else(missing)?)),
                    "queueSort" => {
                        fw.queue_sort =
                            Some((name.clone(), set.queue_sort.clone().ok_or_else(missing)?))
                    }
                    "preFilter" => fw
                        .pre_filter
                        .push((name.clone(), set.pre_filter.clone().ok_or_else(missing)?)),
                    "filter" => {
                        fw.filter.push((name.clone(), set.filter.clone().ok_or_else(missing)?))
                    }
                    "postFilter" => fw
                        .post_filter
                        .push((name.clone(), set.post_filter.clone().ok_or_else(missing)?)),
                    "preScore" => fw
                        .pre_score
                        .push((name.clone(), set.pre_score.clone().ok_or_else(missing)?)),
                    "score" => {
                        let weight = p.weight.unwrap_or(1);
                        if weight < 1 {
                            return Err(err(format!("score weight of {name} must be at least 1")));
                        }
                        fw.score.push((
                            name.clone(),
                            set.score.clone().ok_or_else(missing)?,
                            weight,
                        ))
                    }
                    "reserve" => {
                        fw.reserve.push((name.clone(), set.reserve.clone().ok_or_else(missing)?))
                    }
                    "permit" => {
                        fw.permit.push((name.clone(), set.permit.clone().ok_or_else(missing)?))
                    }
                    "preBind" => {
                        fw.pre_bind.push((name.clone(), set.pre_bind.clone().ok_or_else(missing)?))
                    }
                    "bind" => fw.bind.push((name.clone(), set.bind.clone().ok_or_else(missing)?)),
                    _ => fw
                        .post_bind
                        .push((name.clone(), set.post_bind.clone().ok_or_else(missing)?)),
                }
            }
        }
        fw.pre_filter_to_filter =
            fw.pre_filter.iter().map(|(n, _)| fw.filter.iter().position(|(f, _)| f == n)).collect();
        if fw.queue_sort.is_none() {
            return Err(err("a profile needs a QueueSort plugin".into()));
        }
        if fw.bind.is_empty() && handle.store.is_some() {
            return Err(err("a profile needs a Bind plugin".into()));
        }
        Ok(fw)
    }

    /// Names of the plugins at an extension point, in order (for tests and logs).
    pub fn plugin_names(&self, point: &str) -> Vec<String> {
        fn names<T: ?Sized>(v: &[Named<T>]) -> Vec<String> {
            v.iter().map(|(n, _)| n.clone()).collect()
        }
        match point {
            "preEnqueue" => names(&self.pre_enqueue),
            "queueSort" => self.queue_sort.iter().map(|(n, _)| n.clone()).collect(),
            "preFilter" => names(&self.pre_filter),
            "filter" => names(&self.filter),
            "postFilter" => names(&self.post_filter),
            "preScore" => names(&self.pre_score),
            "score" => self.score.iter().map(|(n, _, _)| n.clone()).collect(),
            "reserve" => names(&self.reserve),
            "permit" => names(&self.permit),
            "preBind" => names(&self.pre_bind),
            "bind" => names(&self.bind),
            "postBind" => names(&self.post_bind),
            _ => Vec::new(),
        }
    }

    /// The weight of a score plugin, if enabled.
    pub fn score_weight(&self, plugin: &str) -> Option<i64> {
        self.score.iter().find(|(n, _, _)| n == plugin).map(|(_, _, w)| *w)
    }

    /// PreEnqueue: `Success` if the pod may be queued.
    pub fn run_pre_enqueue(&self, pod: &PodInfo) -> Status {
        for (name, p) in &self.pre_enqueue {
            let s = p.pre_enqueue(pod);
            if !s.is_success() {
                return s.with_plugin(name);
            }
        }
        Status::success()
    }

    /// QueueSort: true if `a` goes before `b`.
    pub fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        match &self.queue_sort {
            Some((_, p)) => p.less(a, b),
            None => a.enqueued_at < b.enqueued_at,
        }
    }

    /// PreFilter. A rejection fails the pod on every node.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterOutcome, Status> {
        let mut out = PreFilterOutcome { skip_filters: vec![false; self.filter.len()] };
        for (i, (name, p)) in self.pre_filter.iter().enumerate() {
            let s = p.pre_filter(state, pod, snapshot);
            match s.code {
                Code::Success => {}
                Code::Skip => {
                    if let Some(f) = self.pre_filter_to_filter[i] {
                        out.skip_filters[f] = true;
                    }
                }
                _ => return Err(s.with_plugin(name)),
            }
        }
        Ok(out)
    }

    /// Filter on one node: the first rejection, or `Success`.
    pub fn run_filters(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        pre: &PreFilterOutcome,
    ) -> Status {
        for (i, (name, p)) in self.filter.iter().enumerate() {
            if pre.skips(i) {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(name);
            }
        }
        Status::success()
    }

    /// Filter on one node with the pods nominated to it counted in, as
    /// kube-scheduler's `RunFilterPluginsWithNominatedPods`: if pods of
    /// equal or higher priority than `pod` (other than `pod`) are nominated
    /// to the node, the filters run first as if they ran there — `pod` must
    /// not take the room a preemptor waits for — and, if that passes, again
    /// without them (filters such as pod affinity may pass only with them,
    /// and they may yet land elsewhere). Without such nominees it is
    /// [`run_filters`](Self::run_filters).
    ///
    /// PreFilter state is not updated for the added pods (orch has no
    /// PreFilter `AddPod` extension yet): resources, ports and the node's
    /// own pod lists see them; precomputed spreading and affinity counts do
    /// not.
    pub fn run_filters_with_nominated_pods(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        pre: &PreFilterOutcome,
        nominated: &NominatedPods,
    ) -> Status {
        let mut respected = nominated.to_respect(node.name(), pod).peekable();
        if respected.peek().is_none() {
            return self.run_filters(state, pod, node, pre);
        }
        let mut with_nominated = node.clone();
        for p in respected {
            with_nominated.add_pod(p.clone(), with_nominated.generation);
        }
        let first = self.run_filters(state, pod, &with_nominated, pre);
        if !first.is_success() {
            return first;
        }
        self.run_filters(state, pod, node, pre)
    }

    /// The pods nominated to nodes.
    pub fn nominator(&self) -> &Nominator {
        &self.nominator
    }

    /// True if there are PostFilter plugins.
    pub fn has_post_filter(&self) -> bool {
        !self.post_filter.is_empty()
    }

    /// PostFilter: the first plugin that finds a way wins; if none does, the
    /// last plugin's result (what becomes of the nomination) and status.
    pub async fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
        statuses: &[(usize, Status)],
    ) -> (PostFilterResult, Status) {
        let mut last =
            (PostFilterResult::default(), Status::unschedulable("no PostFilter plugin made room"));
        for (name, p) in &self.post_filter {
            let (result, s) = p.post_filter(self, state, pod, snapshot, statuses).await;
            if s.is_success() {
                return (result, s.with_plugin(name));
            }
            last = (PostFilterResult { nominated_node: None, ..result }, s.with_plugin(name));
        }
        last
    }

    /// PreScore, then Score with NormalizeScore and weights: the total per
    /// feasible node, in the order of `nodes`.
    pub fn run_scores(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Result<Vec<i64>, Status> {
        let mut skip: HashSet<&str> = HashSet::new();
        for (name, p) in &self.pre_score {
            let s = p.pre_score(state, pod, nodes, snapshot);
            match s.code {
                Code::Success => {}
                Code::Skip => {
                    skip.insert(name);
                }
                _ => return Err(s.with_plugin(name)),
            }
        }
        let mut totals = vec![0i64; nodes.len()];
        let mut scores: Vec<NodeScore> = Vec::with_capacity(nodes.len());
        for (name, p, weight) in &self.score {
            if skip.contains(name.as_str()) {
                continue;
            }
            scores.clear();
            for (i, n) in nodes.iter().enumerate() {
                let score = p.score(state, pod, n).map_err(|s| s.with_plugin(name))?;
                scores.push(NodeScore { node: i, score });
            }
            let s = p.normalize(state, pod, &mut scores);
            if !s.is_success() {
                return Err(s.with_plugin(name));
            }
            for ns in &scores {
                totals[ns.node] += ns.score * weight;
            }
        }
        Ok(totals)
    }

    /// Reserve; on a failure every reserve plugin is unreserved.
    pub fn run_reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status {
        for (name, p) in &self.reserve {
            let s = p.reserve(state, pod, node);
            if !s.is_success() {
                self.run_unreserve(state, pod, node);
                return s.with_plugin(name);
            }
        }
        Status::success()
    }

    /// Unreserve, in reverse order.
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) {
        for (_, p) in self.reserve.iter().rev() {
            p.unreserve(state, pod, node);
        }
    }

    /// Permit: `Success`, a rejection, or `Wait` (the pod is registered as
    /// waiting; call [`wait_on_permit`](Self::wait_on_permit)).
    pub fn run_permit(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status {
        let mut waiting: Vec<(String, Duration)> = Vec::new();
        for (name, p) in &self.permit {
            let (s, timeout) = p.permit(state, pod, node);
            match s.code {
                Code::Success | Code::Skip => {}
                Code::Wait => waiting.push((name.clone(), timeout)),
                _ => return s.with_plugin(name),
            }
        }
        if waiting.is_empty() {
            return Status::success();
        }
        let timeout = waiting.iter().map(|(_, t)| *t).min().unwrap_or_default();
        self.waiting.add(pod.uid(), waiting.into_iter().map(|(n, _)| n).collect(), timeout);
        Status::new(Code::Wait, "waiting on permit")
    }

    /// Waits until every Permit plugin that said `Wait` allowed the pod, one
    /// rejected it, or the timeout passed (a rejection).
    pub async fn wait_on_permit(&self, pod: &PodInfo) -> Status {
        self.waiting.wait(pod.uid()).await
    }

    /// The pods held at Permit.
    pub fn waiting_pods(&self) -> &WaitingPods {
        &self.waiting
    }

    /// PreBind.
    pub async fn run_pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for (name, p) in &self.pre_bind {
            let s = p.pre_bind(state, pod, node).await;
            if !s.is_success() {
                return s.with_plugin(name);
            }
        }
        Status::success()
    }

    /// Bind: the first binder that does not skip.
    pub async fn run_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for (name, p) in &self.bind {
            let s = p.bind(state, pod, node).await;
            if s.code != Code::Skip {
                return s.with_plugin(name);
            }
        }
        Status::error("no bind plugin bound the pod")
    }

    /// PostBind.
    pub fn run_post_bind(&self, state: &CycleState, pod: &Pod, node: &str) {
        for (_, p) in &self.post_bind {
            p.post_bind(state, pod, node);
        }
    }
}
