//! The scheduler: watches pending Pods of its profiles and every Node through
//! shared informers, runs one scheduling cycle at a time, and binds
//! asynchronously so the next pod is not held up by the store write.
//!
//! * Bound pods (seen by the informer) confirm the cache's assumed pods;
//!   deleted pods free their node; node and pod-deletion events move
//!   unschedulable pods back to the active queue.
//! * A pod that fits nowhere gets PostFilter (preemption), a
//!   `FailedScheduling` Event with kube-scheduler's message, and the
//!   `PodScheduled=False` condition; a bound pod gets `PodScheduled=True`
//!   from the binding itself ([`Api::bind`](orch_core::Api::bind)) and a
//!   `Scheduled` Event.
//! * Preemption nominates the node it made room on; the
//!   [`Nominator`](crate::nominator::Nominator) holds that room against
//!   lower-priority pods until the preemptor is assumed, bound or deleted,
//!   and follows the `status.nominatedNodeName` of every pending pod it sees.
//! * With [`SchedulerConfig::metrics`], each attempt's outcome and latency
//!   and the queue's pending pods are recorded under kube-scheduler's
//!   metric names ([`crate::metrics`]); the binding cycle is in `binding.rs`.
//! * Run it under [`LeaderElector`](orch_core::controller::LeaderElector)
//!   with its `leading` token as the shutdown token for one active scheduler.

mod binding;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use orch_core::controller::{
    object_reference, EventRecorder, EventType, Informer, InformerEvent, InformerFactory, ObjectKey,
};
use orch_core::kinds::pod::{PodCondition, PodPhase};
use orch_core::{Api, Node, Pod, Time};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::cache::{Cache, PodInfo, Snapshot};
use crate::cycle::{schedule_pod, Scheduling};
use crate::framework::config::ProfileConfig;
use crate::framework::{Framework, Handle, QueuedPodInfo, Registry};
use crate::metrics::{AttemptResult, SchedulerMetrics};
use crate::nominator::Nominator;
use crate::queue::{QueueConfig, SchedulingQueue};
use crate::status::Code;
use crate::Error;

/// Settings of a [`Scheduler`].
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// The profiles; pods choose one by `spec.schedulerName`.
    pub profiles: Vec<ProfileConfig>,
    /// Queue backoff and flush settings.
    pub queue: QueueConfig,
    /// How long an assumed pod whose binding finished waits to be confirmed
    /// by the informer before the cache drops it.
    pub assumed_ttl: Duration,
    /// Threads for Filter when there are many nodes; 1 filters inline.
    pub parallelism: usize,
    /// Record `Scheduled` Events for every bound pod (as kube-scheduler).
    pub record_scheduled_events: bool,
    /// Where to record kube-scheduler's metrics (`None`: nowhere).
    pub metrics: Option<Arc<SchedulerMetrics>>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            profiles: vec![ProfileConfig::default()],
            queue: QueueConfig::default(),
            assumed_ttl: Duration::from_secs(30),
            parallelism: 1,
            record_scheduled_events: true,
            metrics: None,
        }
    }
}

struct Shared {
    api_store: Arc<dyn orch_core::store::Store>,
    frameworks: HashMap<String, Arc<Framework>>,
    cache: Mutex<Cache>,
    queue: SchedulingQueue,
    nominator: Nominator,
    /// The Pod informer, once running: what the cluster holds now.
    pods: OnceLock<Informer<Pod>>,
    recorder: EventRecorder,
    record_scheduled: bool,
    metrics: Option<Arc<SchedulerMetrics>>,
}

/// The scheduler. See the [module docs](self).
#[must_use = "a Scheduler does nothing until run"]
pub struct Scheduler {
    factory: Arc<InformerFactory>,
    shared: Arc<Shared>,
    parallelism: usize,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("profiles", &self.shared.frameworks.keys().collect::<Vec<_>>())
            .field("queue", &self.shared.queue)
            .finish()
    }
}

/// True if the pod is done and holds no resources.
fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase),
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    )
}

fn is_assigned(pod: &Pod) -> bool {
    pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
}

impl Scheduler {
    /// A scheduler over the factory's store with `config`'s profiles built
    /// from `registry`.
    ///
    /// Errors: [`Error::Config`] for a bad profile (unknown plugin, two
    /// profiles with one name, profiles with different QueueSort plugins).
    pub fn new(
        factory: Arc<InformerFactory>,
        registry: &Registry,
        config: SchedulerConfig,
    ) -> Result<Self, Error> {
        let store = factory.store().clone();
        let nominator = Nominator::default();
        let handle = Handle {
            store: Some(store.clone()),
            waiting_pods: Default::default(),
            nominator: nominator.clone(),
        };
        let mut frameworks = HashMap::new();
        let mut sort = None;
        for profile in &config.profiles {
            let fw = Framework::new(registry, profile, &handle)?;
            let qs = fw.plugin_names("queueSort");
            match &sort {
                None => sort = Some(qs),
                Some(first) if *first != qs => {
                    return Err(Error::Config {
                        profile: profile.scheduler_name.clone(),
                        reason: "every profile must use the same QueueSort plugin".into(),
                    })
                }
                Some(_) => {}
            }
            if frameworks.insert(profile.scheduler_name.clone(), Arc::new(fw)).is_some() {
                return Err(Error::Config {
                    profile: profile.scheduler_name.clone(),
                    reason: "duplicate profile".into(),
                });
            }
        }
        let first = config
            .profiles
            .first()
            .and_then(|p| frameworks.get(&p.scheduler_name))
            .ok_or_else(|| Error::Config {
                profile: String::new(),
                reason: "at least one profile is needed".into(),
            })?
            .clone();
        let profiles = frameworks.clone();
        let queue = SchedulingQueue::new(Arc::new(FrameworkSort(first)), config.queue)
            .with_pre_enqueue(Arc::new(move |pod: &PodInfo| {
                profiles
                    .get(pod.pod.spec.scheduler_name())
                    .is_none_or(|f| f.run_pre_enqueue(pod).is_success())
            }));
        Ok(Scheduler {
            shared: Arc::new(Shared {
                api_store: store.clone(),
                frameworks,
                cache: Mutex::new(Cache::new(config.assumed_ttl)),
                queue,
                nominator,
                pods: OnceLock::new(),
                recorder: EventRecorder::new(store, "default-scheduler", None),
                record_scheduled: config.record_scheduled_events,
                metrics: config.metrics,
            }),
            factory,
            parallelism: config.parallelism.max(1),
        })
    }

    /// The profile frameworks, by scheduler name.
    pub fn framework(&self, scheduler_name: &str) -> Option<&Arc<Framework>> {
        self.shared.frameworks.get(scheduler_name)
    }

    /// The pods nominated to nodes by preemption or by their
    /// `status.nominatedNodeName`.
    pub fn nominator(&self) -> &Nominator {
        &self.shared.nominator
    }

    /// (activeQ, backoffQ, unschedulable) sizes.
    pub fn queue_lengths(&self) -> (usize, usize, usize) {
        self.shared.queue.lengths()
    }

    /// Runs until `shutdown` is cancelled; bindings in flight finish first.
    pub async fn run(self, shutdown: CancellationToken) {
        let shared = self.shared.clone();
        let nodes = self.factory.informer::<Node>();
        let pods = self.factory.informer::<Pod>();
        let _ = shared.pods.set(pods.clone());
        let mut node_events = nodes.subscribe();
        let mut pod_events = pods.subscribe();
        nodes.cache().wait_ready().await;
        pods.cache().wait_ready().await;
        {
            let mut cache = shared.cache.lock();
            for n in nodes.cache().list() {
                cache.upsert_node(n);
            }
        }
        for p in pods.cache().list() {
            shared.pod_changed(p);
        }
        let feeder = {
            let (shared, stop) = (shared.clone(), shutdown.clone());
            let (nodes, pods) = (nodes.clone(), pods.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        e = node_events.recv() => match e {
                            Some(InformerEvent::Applied(n)) => {
                                shared.cache.lock().upsert_node(n);
                                shared.queue.move_all_to_active_or_backoff();
                            }
                            Some(InformerEvent::Deleted(n)) => shared.cache.lock().remove_node(&n.metadata.name),
                            Some(InformerEvent::Resync) => {
                                let mut cache = shared.cache.lock();
                                for n in nodes.cache().list() {
                                    cache.upsert_node(n);
                                }
                                drop(cache);
                                shared.queue.move_all_to_active_or_backoff();
                            }
                            None => return,
                        },
                        e = pod_events.recv() => match e {
                            Some(InformerEvent::Applied(p)) => shared.pod_changed(p),
                            Some(InformerEvent::Deleted(p)) => shared.pod_deleted(&p),
                            Some(InformerEvent::Resync) => {
                                for p in pods.cache().list() {
                                    shared.pod_changed(p);
                                }
                            }
                            None => return,
                        },
                    }
                }
            })
        };
        let housekeeping = {
            let (shared, stop) = (shared.clone(), shutdown.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => {
                            if let Some(m) = &shared.metrics {
                                m.pending(shared.queue.pending());
                            }
                            shared.queue.flush_unschedulable_left_over();
                            if shared.cache.lock().cleanup_expired(tokio::time::Instant::now()) > 0 {
                                shared.queue.move_all_to_active_or_backoff();
                            }
                        }
                    }
                }
            })
        };
        let mut snapshot = Snapshot::default();
        let mut sched = Scheduling { parallelism: self.parallelism, ..Default::default() };
        let mut bindings = tokio::task::JoinSet::new();
        loop {
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                next = shared.queue.pop() => next,
            };
            let Some(qpi) = next else { break };
            if let Some(binding) = shared.schedule_one(qpi, &mut snapshot, &mut sched).await {
                bindings.spawn(binding);
            }
            while bindings.try_join_next().is_some() {}
        }
        shared.queue.close();
        while bindings.join_next().await.is_some() {}
        feeder.abort();
        housekeeping.abort();
        if let Some(m) = &shared.metrics {
            m.pending(Default::default());
        }
    }
}

/// Runs a scheduler only while this instance holds the Lease `lease_name`
/// (one active scheduler among replicas): each time it becomes leader it
/// builds a fresh scheduler and runs it until leadership is lost or
/// `shutdown` is cancelled.
///
/// Errors: [`Error::Config`] for a bad profile (checked before competing).
pub async fn run_leader_elected(
    factory: Arc<InformerFactory>,
    registry: Registry,
    config: SchedulerConfig,
    elector: &orch_core::controller::LeaderElector,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // Fail fast on configuration errors.
    drop(Scheduler::new(factory.clone(), &registry, config.clone())?);
    elector
        .run(shutdown, |leading| {
            let scheduler = Scheduler::new(factory.clone(), &registry, config.clone());
            async move {
                match scheduler {
                    Ok(s) => s.run(leading).await,
                    Err(e) => tracing::error!(error = %e, "scheduler could not start"),
                }
            }
        })
        .await;
    Ok(())
}

/// True if `assigned`, newly on a node, may let `waiting` in: it matches one
/// of `waiting`'s required pod-affinity terms or the selector of one of its
/// topology spread constraints (kube-scheduler's queueing hints of
/// InterPodAffinity and PodTopologySpread for an assigned pod's add).
fn could_unblock(waiting: &PodInfo, assigned: &Pod) -> bool {
    waiting.required_affinity.iter().any(|t| t.matches(assigned))
        || waiting.pod.spec.topology_spread_constraints.iter().any(|c| {
            c.label_selector
                .as_ref()
                .and_then(|s| orch_core::selector::LabelSelector::from_object(s).ok())
                .is_some_and(|s| {
                    assigned.metadata.namespace == waiting.pod.metadata.namespace
                        && s.matches(&assigned.metadata.labels)
                })
        })
}

/// The first profile's QueueSort, for the shared queue.
struct FrameworkSort(Arc<Framework>);

impl crate::framework::QueueSortPlugin for FrameworkSort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        self.0.less(a, b)
    }
}

impl Shared {
    fn responsible(&self, pod: &Pod) -> bool {
        self.frameworks.contains_key(pod.spec.scheduler_name())
    }

    fn pod_changed(&self, pod: Arc<Pod>) {
        if is_assigned(&pod) {
            // Bound: its nomination has served (kube-scheduler deletes it
            // with the pod from the queue).
            self.nominator.delete(&pod.metadata.uid);
            if is_terminal(&pod) {
                self.pod_deleted(&pod);
            } else {
                self.queue.delete(&pod.metadata.uid);
                let mut cache = self.cache.lock();
                let before = cache.confirmed_pod(&pod.metadata.uid);
                cache.upsert_pod(pod.clone());
                drop(cache);
                // kube-scheduler's AssignedPodAdd/Update: a pod newly on a
                // node, or relabelled there, may satisfy a waiting pod's
                // affinity or even out its topology spread.
                let changed = before.is_none_or(|b| b.metadata.labels != pod.metadata.labels);
                if changed {
                    self.queue.move_to_active_or_backoff(|waiting| could_unblock(waiting, &pod));
                }
            }
        } else if pod.metadata.is_deleting() || is_terminal(&pod) || !self.responsible(&pod) {
            self.nominator.delete(&pod.metadata.uid);
        } else if !self.cache.lock().contains_pod(&pod.metadata.uid) {
            // A pod the cache holds was placed already: an unassigned copy of
            // it is stale (an event that was also in the initial list, or
            // one from before its binding).
            // The queue asks the PreEnqueue plugins, and parks a pod they
            // turn away until a cluster event or an update of the pod. The
            // nominator follows its status.nominatedNodeName, even while it
            // is being scheduled.
            let info = Arc::new(PodInfo::new(pod));
            self.nominator.update(info.clone());
            self.queue.add(info);
        }
    }

    /// True if the informer holds this pod (same uid) unbound and not
    /// being deleted: it still waits to be scheduled.
    fn pending(&self, pod: &Pod) -> bool {
        let Some(pods) = self.pods.get() else { return true };
        let key = ObjectKey::new(pod.metadata.namespace.clone(), pod.metadata.name.clone());
        pods.cache().get(&key).is_some_and(|live| {
            live.metadata.uid == pod.metadata.uid
                && !is_assigned(&live)
                && !live.metadata.is_deleting()
                && !is_terminal(&live)
        })
    }

    fn pod_deleted(&self, pod: &Pod) {
        self.queue.delete(&pod.metadata.uid);
        self.nominator.delete(&pod.metadata.uid);
        let was_placed = is_assigned(pod) || self.cache.lock().is_assumed(&pod.metadata.uid);
        self.cache.lock().remove_pod(&pod.metadata.uid);
        if was_placed {
            self.queue.move_all_to_active_or_backoff();
        }
    }

    /// Sets the PodScheduled condition: a read-modify-write guarded by the
    /// resourceVersion, so conditions others write meanwhile are kept.
    async fn set_condition(&self, pod: &Pod, status: bool, reason: &str, message: &str) {
        let api: Api<Pod> = Api::namespaced(self.api_store.clone(), &pod.metadata.namespace);
        let value = orch_core::condition::status_str(status);
        for _ in 0..3 {
            let Ok(Some(mut current)) = api.get_opt(&pod.metadata.name).await else { return };
            let st = current.status.get_or_insert_with(Default::default);
            let condition = PodCondition {
                type_: "PodScheduled".into(),
                status: value.into(),
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
                message: (!message.is_empty()).then(|| message.to_owned()),
                ..Default::default()
            };
            if !orch_core::condition::set_condition(&mut st.conditions, condition, Time::now()) {
                return;
            }
            if st.phase.is_none() {
                st.phase = Some(PodPhase::Pending);
            }
            match api.replace_status(&current).await {
                Err(e) if e.is_conflict() => continue,
                _ => return,
            }
        }
    }

    /// One scheduling cycle; returns the binding cycle to run in the background.
    async fn schedule_one(
        self: &Arc<Self>,
        qpi: QueuedPodInfo,
        snapshot: &mut Snapshot,
        sched: &mut Scheduling,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let started = Instant::now();
        let pod = qpi.pod.clone();
        let uid = pod.uid().to_owned();
        let Some(fw) = self.frameworks.get(pod.pod.spec.scheduler_name()).cloned() else {
            self.queue.done(&uid);
            return None;
        };
        // As kube-scheduler's skipPodSchedule: a pod placed meanwhile (its
        // copy in the queue is stale) is not scheduled twice.
        if self.cache.lock().contains_pod(&uid) {
            self.queue.done(&uid);
            return None;
        }
        self.cache.lock().update_snapshot(snapshot);
        match schedule_pod(&fw, snapshot, &pod, sched) {
            Ok(result) => {
                let node = result.node.clone();
                let mut state = result.state;
                self.cache.lock().assume_pod(pod.clone(), &node);
                // As kube-scheduler's assume: the pod holds real room now,
                // not a nomination (a failed binding does not restore it).
                self.nominator.delete(&uid);
                let reserved = fw.run_reserve(&mut state, &pod, &node);
                if !reserved.is_success() {
                    self.fail_binding(&fw, &mut state, qpi, &node, &reserved.to_string()).await;
                    self.attempted(&fw, AttemptResult::Error, started);
                    return None;
                }
                let permit = fw.run_permit(&state, &pod, &node);
                if permit.is_rejected() || permit.code == Code::Error {
                    self.fail_binding(&fw, &mut state, qpi, &node, &permit.to_string()).await;
                    self.attempted(&fw, AttemptResult::Error, started);
                    return None;
                }
                let shared = self.clone();
                let waits = permit.code == Code::Wait;
                Some(async move { shared.bind(&fw, state, qpi, node, waits, started).await })
            }
            Err(fit) => {
                let mut message = fit.message();
                if fit.pre_filter.is_none() && fw.has_post_filter() {
                    let (result, status) =
                        fw.run_post_filter(&fit.state, &pod, snapshot, &fit.statuses).await;
                    match &result.nominated_node {
                        Some(node) => {
                            self.nominator
                                .nominate_if(pod.clone(), node, || self.pending(&pod.pod));
                            message.push_str(&format!(" preemption: evicting pods on {node}."))
                        }
                        None if status.code == Code::Error => {
                            message.push_str(&format!(" preemption: {status}."))
                        }
                        None if result.clear_nomination => {
                            self.nominator.delete(&uid);
                            message
                                .push_str(" preemption: 0 nodes have lower-priority pods to evict.")
                        }
                        // Not eligible: the nomination stays.
                        None => message
                            .push_str(&format!(" preemption: {}.", status.reasons.join(", "))),
                    }
                }
                tracing::debug!(pod = %pod.pod.metadata.name, %message, "unschedulable");
                let _ = self
                    .recorder
                    .record(
                        &object_reference(&*pod.pod),
                        EventType::Warning,
                        "FailedScheduling",
                        &message,
                    )
                    .await;
                self.set_condition(&pod.pod, false, "Unschedulable", &message).await;
                self.queue.add_unschedulable(qpi);
                let failed = fit.pre_filter.as_ref().is_some_and(|s| s.code == Code::Error)
                    || fit.statuses.iter().any(|(_, s)| s.code == Code::Error);
                let result =
                    if failed { AttemptResult::Error } else { AttemptResult::Unschedulable };
                self.attempted(&fw, result, started);
                None
            }
        }
    }
}
