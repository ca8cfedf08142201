//! The scheduling queue, after kube-scheduler's `PriorityQueue`:
//!
//! * **activeQ**: pods ready to be scheduled, ordered by the QueueSort plugin
//!   (priority, then time in the queue);
//! * **backoffQ**: pods that failed recently, each waiting out its backoff
//!   (1 s doubling per attempt up to 10 s, configurable);
//! * **unschedulable**: pods no node fitted; a relevant cluster event (node
//!   added or changed, a pod deleted, …) moves them back, and a periodic
//!   flush moves any that waited longer than 5 minutes;
//! * **gated**: pods a PreEnqueue plugin turned away (Kubernetes'
//!   `SchedulingGated`). They are parked, not dropped: every cluster event
//!   and every update of the pod asks the PreEnqueue plugins again, and a
//!   pod they let in goes to activeQ. The periodic flush leaves them.
//!
//! A pod that failed while a cluster event happened during its cycle goes to
//! backoffQ rather than unschedulable, so the event is not lost.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cache::PodInfo;
use crate::framework::{QueueSortPlugin, QueuedPodInfo};

/// Settings of the scheduling queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Backoff after the first failure; doubles per attempt.
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// Unschedulable pods waiting longer than this are retried anyway.
    pub max_unschedulable: Duration,
}

impl Default for QueueConfig {
    /// kube-scheduler's defaults: 1 s, 10 s, 5 min.
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable: Duration::from_secs(300),
        }
    }
}

struct Active {
    info: QueuedPodInfo,
    sort: Arc<dyn QueueSortPlugin>,
}

impl PartialEq for Active {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Active {}
impl PartialOrd for Active {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Active {
    /// The heap pops the greatest: the pod QueueSort puts first.
    fn cmp(&self, other: &Self) -> Ordering {
        if self.sort.less(&self.info, &other.info) {
            Ordering::Greater
        } else if self.sort.less(&other.info, &self.info) {
            Ordering::Less
        } else {
            Ordering::Equal
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    Gated,
}

/// Asks the PreEnqueue plugins whether a pod may be queued (`true`) or
/// stays gated.
pub type PreEnqueueGate = Arc<dyn Fn(&PodInfo) -> bool + Send + Sync>;

struct State {
    active: BinaryHeap<Active>,
    /// Backoff deadlines; entries whose pod is no longer backing off until
    /// that instant are stale and skipped.
    backoff: BinaryHeap<Reverse<(Instant, String)>>,
    /// Latest info per queued uid, and where it is. Heap entries whose uid is
    /// no longer `Active` here (or whose pod was replaced) are stale and skipped.
    pods: HashMap<String, (QueuedPodInfo, Place)>,
    /// The uids of `pods` that are unschedulable or gated: what a cluster
    /// event looks at, without walking every queued pod.
    parked: HashSet<String>,
    /// uid → the move cycle when it was popped.
    in_flight: HashMap<String, u64>,
    move_cycle: u64,
    closed: bool,
}

impl State {
    fn put(&mut self, uid: String, info: QueuedPodInfo, place: Place) {
        if matches!(place, Place::Unschedulable(_) | Place::Gated) {
            self.parked.insert(uid.clone());
        } else {
            self.parked.remove(&uid);
        }
        self.pods.insert(uid, (info, place));
    }

    fn take(&mut self, uid: &str) -> Option<(QueuedPodInfo, Place)> {
        self.parked.remove(uid);
        self.pods.remove(uid)
    }

    /// The parked pods (unschedulable or gated), with where they are.
    fn parked(&self) -> Vec<(QueuedPodInfo, Place)> {
        self.parked.iter().filter_map(|uid| self.pods.get(uid).cloned()).collect()
    }
}

/// How many pods wait in each part of the queue (kube-scheduler's
/// `scheduler_pending_pods` queue label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingPods {
    /// In activeQ, ready to be popped.
    pub active: usize,
    /// In backoffQ, waiting out their backoff.
    pub backoff: usize,
    /// Parked as unschedulable until a cluster event or the flush.
    pub unschedulable: usize,
    /// Turned away by a PreEnqueue plugin.
    pub gated: usize,
}

/// The scheduling queue. Cheap to share behind an `Arc`.
pub struct SchedulingQueue {
    state: Mutex<State>,
    notify: Notify,
    sort: Arc<dyn QueueSortPlugin>,
    gate: Option<PreEnqueueGate>,
    config: QueueConfig,
}

impl std::fmt::Debug for SchedulingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b, u) = self.lengths();
        f.debug_struct("SchedulingQueue")
            .field("active", &a)
            .field("backoff", &b)
            .field("unschedulable", &u)
            .finish()
    }
}

impl SchedulingQueue {
    /// A queue ordered by `sort`.
    pub fn new(sort: Arc<dyn QueueSortPlugin>, config: QueueConfig) -> Self {
        SchedulingQueue {
            state: Mutex::new(State {
                active: BinaryHeap::new(),
                backoff: BinaryHeap::new(),
                pods: HashMap::new(),
                parked: HashSet::new(),
                in_flight: HashMap::new(),
                move_cycle: 0,
                closed: false,
            }),
            notify: Notify::new(),
            sort,
            gate: None,
            config,
        }
    }

    /// Runs `gate` (the PreEnqueue plugins) on every pod added and on every
    /// gated pod at each cluster event; a pod it turns away is parked.
    #[must_use]
    pub fn with_pre_enqueue(mut self, gate: PreEnqueueGate) -> Self {
        self.gate = Some(gate);
        self
    }

    fn admits(&self, pod: &PodInfo) -> bool {
        self.gate.as_ref().is_none_or(|gate| gate(pod))
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(20);
        self.config.initial_backoff.saturating_mul(1 << shift).min(self.config.max_backoff)
    }

    fn push_active(&self, s: &mut State, info: QueuedPodInfo) {
        let uid = info.pod.uid().to_owned();
        s.put(uid, info.clone(), Place::Active);
        s.active.push(Active { info, sort: self.sort.clone() });
    }

    fn push_backoff(s: &mut State, info: QueuedPodInfo, until: Instant) {
        let uid = info.pod.uid().to_owned();
        s.backoff.push(Reverse((until, uid.clone())));
        s.put(uid, info, Place::Backoff(until));
    }

    /// Adds a new pending pod, or updates the pod of one already queued (a
    /// changed unschedulable or gated pod gets another chance at once). A
    /// pod the PreEnqueue gate turns away is parked as gated.
    pub fn add(&self, pod: Arc<PodInfo>) {
        let admitted = self.admits(&pod);
        let mut s = self.state.lock();
        let uid = pod.uid().to_owned();
        if s.in_flight.contains_key(&uid) {
            return;
        }
        let info = match s.pods.get(&uid) {
            Some((existing, _)) => QueuedPodInfo { pod, ..existing.clone() },
            None => QueuedPodInfo { pod, enqueued_at: Instant::now(), attempts: 0 },
        };
        if !admitted {
            s.put(uid, info, Place::Gated);
            return;
        }
        self.push_active(&mut s, info);
        drop(s);
        self.notify.notify_one();
    }

    /// Removes a pod (deleted, or bound by someone else).
    pub fn delete(&self, uid: &str) {
        self.state.lock().take(uid);
    }

    /// Waits for the next pod to schedule; `None` after [`close`](Self::close).
    pub async fn pop(&self) -> Option<QueuedPodInfo> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_backoff = {
                let mut s = self.state.lock();
                if s.closed {
                    return None;
                }
                self.flush_backoff_locked(&mut s);
                while let Some(entry) = s.active.pop() {
                    let uid = entry.info.pod.uid().to_owned();
                    let current =
                        s.pods.get(&uid).map(|(i, p)| (Arc::ptr_eq(&i.pod, &entry.info.pod), *p));
                    if current != Some((true, Place::Active)) {
                        continue; // stale heap entry
                    }
                    let Some((mut info, _)) = s.take(&uid) else { continue };
                    info.attempts += 1;
                    let cycle = s.move_cycle;
                    s.in_flight.insert(uid, cycle);
                    return Some(info);
                }
                s.backoff.peek().map(|Reverse((at, _))| *at)
            };
            match next_backoff {
                Some(at) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn flush_backoff_locked(&self, s: &mut State) {
        let now = Instant::now();
        while let Some(Reverse((at, _))) = s.backoff.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, uid))) = s.backoff.pop() else { break };
            let due = match s.pods.get(&uid) {
                Some((info, Place::Backoff(until))) if *until == at => Some(info.clone()),
                _ => None, // stale
            };
            if let Some(info) = due {
                self.push_active(s, info);
            }
        }
    }

    /// A popped pod is done (bound, or handed back with one of the `add_*`).
    pub fn done(&self, uid: &str) {
        self.state.lock().in_flight.remove(uid);
    }

    /// A popped pod that no node fitted. It waits for a cluster event — or,
    /// if one happened during its cycle, only for its backoff.
    pub fn add_unschedulable(&self, info: QueuedPodInfo) {
        let mut s = self.state.lock();
        let uid = info.pod.uid().to_owned();
        let popped_at = s.in_flight.remove(&uid).unwrap_or(s.move_cycle);
        if s.closed {
            return;
        }
        if s.move_cycle > popped_at {
            let until = Instant::now() + self.backoff(info.attempts);
            Self::push_backoff(&mut s, info, until);
        } else {
            s.put(uid, info, Place::Unschedulable(Instant::now()));
        }
        drop(s);
        self.notify.notify_one();
    }

    /// A popped pod that failed for another reason (a binding error): it
    /// waits out its backoff.
    pub fn add_backoff(&self, info: QueuedPodInfo) {
        let mut s = self.state.lock();
        let uid = info.pod.uid().to_owned();
        s.in_flight.remove(&uid);
        if s.closed {
            return;
        }
        let until = Instant::now() + self.backoff(info.attempts);
        Self::push_backoff(&mut s, info, until);
        drop(s);
        self.notify.notify_one();
    }

    /// A cluster event that may make unschedulable pods fit: they move to
    /// backoffQ (if still backing off) or activeQ; gated pods the
    /// PreEnqueue gate now lets in move to activeQ.
    pub fn move_all_to_active_or_backoff(&self) {
        self.move_to_active_or_backoff(|_| true);
    }

    /// A cluster event that only some unschedulable pods can benefit from
    /// (kube-scheduler's queueing hints): those `wanted` accepts move as in
    /// [`move_all_to_active_or_backoff`](Self::move_all_to_active_or_backoff);
    /// gated pods are asked again whatever `wanted` says.
    pub fn move_to_active_or_backoff(&self, wanted: impl Fn(&PodInfo) -> bool) {
        let mut s = self.state.lock();
        s.move_cycle += 1;
        let now = Instant::now();
        for (info, place) in s.parked() {
            match place {
                Place::Gated if self.admits(&info.pod) => self.push_active(&mut s, info),
                Place::Unschedulable(since) if wanted(&info.pod) => {
                    let until = since + self.backoff(info.attempts);
                    if until > now {
                        Self::push_backoff(&mut s, info, until);
                    } else {
                        self.push_active(&mut s, info);
                    }
                }
                _ => {}
            }
        }
        drop(s);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Moves unschedulable pods that waited longer than the configured
    /// maximum back to activeQ (the periodic flush).
    pub fn flush_unschedulable_left_over(&self) {
        let mut s = self.state.lock();
        let now = Instant::now();
        let old: Vec<QueuedPodInfo> = s
            .parked()
            .into_iter()
            .filter(|(_, p)| matches!(p, Place::Unschedulable(since) if now.duration_since(*since) >= self.config.max_unschedulable))
            .map(|(i, _)| i)
            .collect();
        let moved = !old.is_empty();
        for info in old {
            self.push_active(&mut s, info);
        }
        drop(s);
        if moved {
            self.notify.notify_one();
        }
    }

    /// (activeQ, backoffQ, unschedulable) sizes; gated pods count as
    /// unschedulable (they are in kube-scheduler's unschedulable pool too).
    pub fn lengths(&self) -> (usize, usize, usize) {
        let p = self.pending();
        (p.active, p.backoff, p.unschedulable + p.gated)
    }

    /// The pods waiting, by where they wait (walks every queued pod).
    pub fn pending(&self) -> PendingPods {
        let s = self.state.lock();
        let mut counts = PendingPods::default();
        for (_, p) in s.pods.values() {
            match p {
                Place::Active => counts.active += 1,
                Place::Backoff(_) => counts.backoff += 1,
                Place::Unschedulable(_) => counts.unschedulable += 1,
                Place::Gated => counts.gated += 1,
            }
        }
        counts
    }

    /// Ends every `pop`.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}
