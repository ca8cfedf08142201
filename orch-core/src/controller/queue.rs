//! The work queue, after client-go's `workqueue`: deduplicating, never
//! handing out one item twice at once, with delayed and rate-limited adds.
//!
//! * `add` of an item already waiting does nothing (dedup).
//! * `get` hands an item out and marks it in flight; until `done`, nobody
//!   else gets it. An item added while in flight is handed out again after
//!   `done` — so a change that arrives during a reconcile is never lost.
//! * `add_after` adds once a delay has passed; `add_rate_limited` adds after
//!   the [`RateLimiter`]'s delay for that item; `forget` resets its backoff.
//! * `shut_down` makes `get` return `None` once nothing is waiting; items in
//!   flight can still be marked `done`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use orch_core::controller::WorkQueue;
//! let q: WorkQueue<&str> = WorkQueue::new();
//! q.add("default/web");
//! q.add("default/web"); // deduplicated
//! assert_eq!(q.len(), 1);
//! let item = q.get().await.unwrap();
//! q.add("default/web"); // changed while in flight: runs again after done
//! assert_eq!(q.len(), 0);
//! q.done(&item);
//! assert_eq!(q.len(), 1);
//! # });
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::metrics::WorkQueueMetrics;
use super::rate_limit::{RateLimiter, RateLimiterConfig};

struct Delayed<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Delayed<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Delayed<T> {}
impl<T> PartialOrd for Delayed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Delayed<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct State<T> {
    /// Waiting items, in order.
    queue: VecDeque<T>,
    /// Items that need processing: waiting, or re-added while in flight.
    dirty: HashSet<T>,
    /// Items handed out and not yet done.
    processing: HashSet<T>,
    delayed: BinaryHeap<Reverse<Delayed<T>>>,
    seq: u64,
    shutting_down: bool,
    /// client-go's workqueue metrics, once [`WorkQueue::set_metrics`] is called.
    metrics: Option<Metered<T>>,
}

/// The metrics of a metered queue, and the times they are measured from.
struct Metered<T> {
    metrics: WorkQueueMetrics,
    /// When each waiting item was added.
    added: HashMap<T, std::time::Instant>,
    /// When each item in flight was handed out.
    started: HashMap<T, std::time::Instant>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    notify: Notify,
    limiter: RateLimiter<T>,
}

/// A deduplicating work queue. Cheap to clone; clones share the queue.
pub struct WorkQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue { inner: self.inner.clone() }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static> Default for WorkQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Hash + Eq + Clone + Send + 'static> WorkQueue<T> {
    /// A queue with client-go's default rate limiter.
    pub fn new() -> Self {
        Self::with_rate_limiter(RateLimiterConfig::default())
    }

    /// A queue whose `add_rate_limited` uses these settings.
    pub fn with_rate_limiter(config: RateLimiterConfig) -> Self {
        WorkQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    delayed: BinaryHeap::new(),
                    seq: 0,
                    shutting_down: false,
                    metrics: None,
                }),
                notify: Notify::new(),
                limiter: RateLimiter::new(config),
            }),
        }
    }

    /// Records client-go's workqueue metrics for this queue from now on
    /// (`workqueue_depth`, `_adds_total`, `_queue_duration_seconds`,
    /// `_work_duration_seconds`, `_retries_total`; see
    /// [`ControllerMetrics::work_queue`](super::ControllerMetrics::work_queue)).
    pub fn set_metrics(&self, metrics: WorkQueueMetrics) {
        let mut s = self.inner.state.lock();
        metrics.depth.set(s.queue.len() as i64);
        s.metrics = Some(Metered { metrics, added: HashMap::new(), started: HashMap::new() });
    }

    /// Adds an item, unless it is already waiting. Ignored after `shut_down`.
    pub fn add(&self, item: T) {
        let mut s = self.inner.state.lock();
        if Self::add_locked(&mut s, item) {
            drop(s);
            self.inner.notify.notify_one();
        }
    }

    /// Returns true if the item was queued (so a getter should wake).
    fn add_locked(s: &mut State<T>, item: T) -> bool {
        if s.shutting_down || s.dirty.contains(&item) {
            return false;
        }
        s.dirty.insert(item.clone());
        if let Some(m) = &mut s.metrics {
            m.metrics.adds.inc();
            m.added.entry(item.clone()).or_insert_with(std::time::Instant::now);
        }
        if s.processing.contains(&item) {
            return false;
        }
        s.queue.push_back(item);
        if let Some(m) = &s.metrics {
            m.metrics.depth.inc();
        }
        true
    }

    /// Adds an item once `delay` has passed (at once for a zero delay).
    pub fn add_after(&self, item: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(item);
        }
        let mut s = self.inner.state.lock();
        if s.shutting_down {
            return;
        }
        s.seq += 1;
        let seq = s.seq;
        s.delayed.push(Reverse(Delayed { at: Instant::now() + delay, seq, item }));
        drop(s);
        // A getter may be sleeping until a later deadline.
        self.inner.notify.notify_waiters();
    }

    /// Adds an item after its rate limiter delay (a failure is recorded).
    pub fn add_rate_limited(&self, item: T) {
        let delay = self.inner.limiter.when(&item);
        if let Some(m) = &self.inner.state.lock().metrics {
            m.metrics.retries.inc();
        }
        self.add_after(item, delay);
    }

    /// Forgets an item's failures (call after a success).
    pub fn forget(&self, item: &T) {
        self.inner.limiter.forget(item);
    }

    /// Failures recorded for an item since it was last forgotten.
    pub fn retries(&self, item: &T) -> u32 {
        self.inner.limiter.retries(item)
    }

    /// Waits for an item and marks it in flight; `None` once the queue is
    /// shut down and nothing is waiting.
    pub async fn get(&self) -> Option<T> {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_deadline = {
                let mut s = self.inner.state.lock();
                let now = Instant::now();
                let mut woke = false;
                while s.delayed.peek().is_some_and(|Reverse(d)| d.at <= now) {
                    if let Some(Reverse(d)) = s.delayed.pop() {
                        woke |= Self::add_locked(&mut s, d.item);
                    }
                }
                if let Some(item) = s.queue.pop_front() {
                    s.dirty.remove(&item);
                    s.processing.insert(item.clone());
                    if let Some(m) = &mut s.metrics {
                        m.metrics.depth.dec();
                        let now = std::time::Instant::now();
                        if let Some(added) = m.added.remove(&item) {
                            m.metrics.queue_duration.observe((now - added).as_secs_f64());
                        }
                        m.started.insert(item.clone(), now);
                    }
                    if woke && !s.queue.is_empty() {
                        self.inner.notify.notify_one();
                    }
                    return Some(item);
                }
                if s.shutting_down {
                    return None;
                }
                s.delayed.peek().map(|Reverse(d)| d.at)
            };
            match next_deadline {
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

    /// Marks an item done; if it was re-added while in flight, it waits again.
    pub fn done(&self, item: &T) {
        let mut s = self.inner.state.lock();
        s.processing.remove(item);
        if let Some(m) = &mut s.metrics {
            if let Some(started) = m.started.remove(item) {
                m.metrics.work_duration.observe(started.elapsed().as_secs_f64());
            }
        }
        if s.dirty.contains(item) {
            s.queue.push_back(item.clone());
            if let Some(m) = &s.metrics {
                m.metrics.depth.inc();
            }
            drop(s);
            self.inner.notify.notify_one();
        }
    }

    /// Items waiting (not in flight, not delayed).
    pub fn len(&self) -> usize {
        self.inner.state.lock().queue.len()
    }

    /// True if no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items in flight.
    pub fn in_flight(&self) -> usize {
        self.inner.state.lock().processing.len()
    }

    /// Stops accepting items and wakes every getter; `get` drains what is
    /// waiting, then returns `None`. Delayed items are dropped.
    pub fn shut_down(&self) {
        let mut s = self.inner.state.lock();
        s.shutting_down = true;
        s.delayed.clear();
        drop(s);
        self.inner.notify.notify_waiters();
    }

    /// True after `shut_down`.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.state.lock().shutting_down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_are_deduplicated_and_never_handed_out_twice_at_once() {
        let q: WorkQueue<u32> = WorkQueue::new();
        q.add(1);
        q.add(2);
        q.add(1);
        assert_eq!(q.len(), 2);
        let a = q.get().await.unwrap();
        assert_eq!(a, 1);
        q.add(1);
        assert_eq!(q.len(), 1, "1 is in flight: only 2 waits");
        assert_eq!(q.get().await.unwrap(), 2);
        q.done(&1);
        assert_eq!(q.get().await.unwrap(), 1, "re-added while in flight: runs again");
        q.done(&1);
        q.done(&2);
        assert!(q.is_empty());
        assert_eq!(q.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_wait_for_their_time() {
        let q: WorkQueue<&str> = WorkQueue::new();
        let start = Instant::now();
        q.add_after("late", Duration::from_secs(5));
        q.add_after("early", Duration::from_secs(1));
        assert_eq!(q.get().await.unwrap(), "early");
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(q.get().await.unwrap(), "late");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_adds_back_off_per_item() {
        let q: WorkQueue<&str> = WorkQueue::new();
        let start = Instant::now();
        let mut before = start;
        for expected_ms in [5, 10, 20] {
            q.add_rate_limited("flaky");
            let item = q.get().await.unwrap();
            q.done(&item);
            assert_eq!(before.elapsed(), Duration::from_millis(expected_ms));
            before = Instant::now();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(35));
        assert_eq!(q.retries(&"flaky"), 3);
        q.forget(&"flaky");
        assert_eq!(q.retries(&"flaky"), 0);
    }

    #[tokio::test]
    async fn shut_down_drains_then_ends() {
        let q: WorkQueue<u32> = WorkQueue::new();
        q.add(7);
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { (q.get().await, q.get().await) })
        };
        tokio::task::yield_now().await;
        q.shut_down();
        q.add(8);
        let (first, second) = waiter.await.unwrap();
        assert_eq!(first, Some(7));
        assert_eq!(second, None);
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_follow_client_go_workqueue() {
        let metrics = crate::controller::ControllerMetrics::default();
        let q: WorkQueue<&str> = WorkQueue::new();
        q.set_metrics(metrics.work_queue("test"));
        let m = metrics.work_queue("test");
        q.add("a");
        q.add("a"); // deduplicated: not an add
        q.add("b");
        assert_eq!((m.adds.get(), m.depth.get()), (2, 2));
        let a = q.get().await.unwrap();
        assert_eq!(m.depth.get(), 1);
        q.add("a"); // in flight: counted, waits for done, not in depth yet
        assert_eq!((m.adds.get(), m.depth.get()), (3, 1));
        q.done(&a);
        assert_eq!(m.depth.get(), 2);
        q.add_rate_limited("c");
        assert_eq!(m.retries.get(), 1);
        assert_eq!(m.depth.get(), 2, "a delayed add is not waiting yet");
        let (b, a) = (q.get().await.unwrap(), q.get().await.unwrap());
        assert_eq!((b, a), ("b", "a"));
        q.done(&b);
        q.done(&a);
        assert_eq!(q.get().await.unwrap(), "c");
        assert_eq!((m.adds.get(), m.depth.get()), (4, 0));
        let text = {
            let mut registry = prometheus_client::registry::Registry::default();
            let registered = crate::controller::ControllerMetrics::register(&mut registry);
            let qm = registered.work_queue("x");
            let q2: WorkQueue<u8> = WorkQueue::new();
            q2.set_metrics(qm);
            q2.add(1);
            let one = q2.get().await.unwrap();
            q2.done(&one);
            crate::controller::metrics::encode_text(&registry)
        };
        for line in [
            "workqueue_adds_total{name=\"x\"} 1",
            "workqueue_depth{name=\"x\"} 0",
            "workqueue_queue_duration_seconds_count{name=\"x\"} 1",
            "workqueue_work_duration_seconds_count{name=\"x\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
