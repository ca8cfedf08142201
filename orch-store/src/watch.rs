//! Watchers, after etcd's watchable store.
//!
//! A watcher is *synced* while it keeps up: the writer hands it each batch
//! that touches its range, into a bounded buffer. When the buffer is full the
//! writer does not wait: the watcher becomes *unsynced*, leaves the writer's
//! list, and on its next poll catches up from the MVCC event log, up to
//! [`CATCH_UP_REVISIONS`] revisions at a time, then rejoins the writer's list
//! in the same critical section in which it read the log's end — so no
//! revision is skipped or delivered twice. It ends with `Compacted` only when
//! the revisions it still needs have been compacted away.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use futures::{Future, Stream};
use orch_core::store::{
    EventType, KeyRange, ResponseHeader, WatchFilter, WatchRequest, WatchResponse,
};
use orch_core::Result;
use parking_lot::Mutex;
use tokio::time::Sleep;

use crate::mem_store::Inner;
use crate::mvcc::Batch;

/// At most this many revisions are read from the log per catch-up step
/// (etcd's `watchBatchMaxRevs`).
pub(crate) const CATCH_UP_REVISIONS: usize = 1000;

#[derive(Debug)]
enum Mode {
    /// In the writer's list; `batches` holds what it has not yet taken.
    Synced,
    /// Out of the writer's list; must read the log from `next` on.
    Unsynced { next: i64 },
    /// The store is gone.
    Closed,
}

#[derive(Debug)]
struct Queue {
    batches: VecDeque<Arc<Batch>>,
    mode: Mode,
}

/// The part of a watcher that the writer and the stream share.
#[derive(Debug)]
pub(crate) struct WatcherShared {
    id: u64,
    range: KeyRange,
    queue: Mutex<Queue>,
    waker: AtomicWaker,
}

/// A synced watcher in the writer's list.
#[derive(Debug)]
pub(crate) struct Registered {
    shared: Arc<WatcherShared>,
    /// Batches older than this were delivered from the log already.
    min_revision: i64,
}

impl Registered {
    /// Offers a committed batch. Returns false if the watcher fell behind and
    /// must leave the writer's list.
    pub(crate) fn offer(&self, batch: &Arc<Batch>, capacity: usize) -> bool {
        if batch.revision < self.min_revision || !batch.touches(&self.shared.range) {
            return true;
        }
        let mut queue = self.shared.queue.lock();
        let kept = if queue.batches.len() < capacity {
            queue.batches.push_back(batch.clone());
            true
        } else {
            queue.mode = Mode::Unsynced { next: batch.revision };
            false
        };
        drop(queue);
        self.shared.waker.wake();
        kept
    }

    /// Takes the watcher out of sync: it reads the log from `next` on (the
    /// store's state was replaced by a newer image).
    pub(crate) fn fall_behind(&self, next: i64) {
        let mut queue = self.shared.queue.lock();
        if matches!(queue.mode, Mode::Synced) {
            queue.mode = Mode::Unsynced { next: next.max(self.min_revision) };
        }
        drop(queue);
        self.shared.waker.wake();
    }

    /// Ends the watcher: the store is shutting down.
    pub(crate) fn close(&self) {
        self.shared.queue.lock().mode = Mode::Closed;
        self.shared.waker.wake();
    }

    pub(crate) fn id(&self) -> u64 {
        self.shared.id
    }
}

/// The stream returned by `MemStore::watch`.
pub(crate) struct WatchStream {
    shared: Arc<WatcherShared>,
    store: Weak<Inner>,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress: Option<(Duration, Pin<Box<Sleep>>)>,
    done: bool,
}

impl WatchStream {
    /// A watcher that starts unsynced at `start` (already resolved: > 0).
    pub(crate) fn new(
        id: u64,
        req: WatchRequest,
        start: i64,
        store: Weak<Inner>,
        progress_interval: Duration,
    ) -> Self {
        let progress = req
            .progress_notify
            .then(|| (progress_interval, Box::pin(tokio::time::sleep(progress_interval))));
        WatchStream {
            shared: Arc::new(WatcherShared {
                id,
                range: req.range,
                queue: Mutex::new(Queue {
                    batches: VecDeque::new(),
                    mode: Mode::Unsynced { next: start },
                }),
                waker: AtomicWaker::new(),
            }),
            store,
            prev_kv: req.prev_kv,
            no_put: req.filters.contains(&WatchFilter::NoPut),
            no_delete: req.filters.contains(&WatchFilter::NoDelete),
            progress,
            done: false,
        }
    }

    /// Turns batches into one response, keeping this watcher's events only.
    fn respond(&self, batches: &[Arc<Batch>]) -> WatchResponse {
        let mut events = Vec::new();
        for batch in batches {
            for event in &batch.events {
                let dropped = match event.kind {
                    EventType::Put => self.no_put,
                    EventType::Delete => self.no_delete,
                };
                if dropped || !self.shared.range.contains(&event.kv.key) {
                    continue;
                }
                let mut event = event.clone();
                if !self.prev_kv {
                    event.prev_kv = None;
                }
                events.push(event);
            }
        }
        WatchResponse {
            header: ResponseHeader { revision: batches.last().map_or(0, |b| b.revision) },
            events,
            progress_notify: false,
        }
    }

    /// One catch-up step from the log. `Ok(None)` if the store is gone.
    fn catch_up(&self, next: i64) -> Option<Result<Vec<Arc<Batch>>>> {
        let inner = self.store.upgrade()?;
        let mut state = inner.state.lock();
        let batches = match state.mvcc.batches_from(next, CATCH_UP_REVISIONS) {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let next = batches.last().map_or(next, |b| b.revision + 1);
        let mut queue = self.shared.queue.lock();
        if next > state.mvcc.revision() {
            queue.mode = Mode::Synced;
            drop(queue);
            state.watchers.push(Registered { shared: self.shared.clone(), min_revision: next });
        } else {
            queue.mode = Mode::Unsynced { next };
        }
        Some(Ok(batches))
    }

    /// A progress notification, if the watcher is synced with nothing queued.
    fn progress_now(&self) -> Option<WatchResponse> {
        let inner = self.store.upgrade()?;
        let state = inner.state.lock();
        let queue = self.shared.queue.lock();
        if !queue.batches.is_empty() || !matches!(queue.mode, Mode::Synced) {
            return None;
        }
        Some(WatchResponse {
            header: ResponseHeader { revision: state.mvcc.revision() },
            events: Vec::new(),
            progress_notify: true,
        })
    }

    fn reset_progress(&mut self) {
        if let Some((interval, sleep)) = &mut self.progress {
            sleep.as_mut().reset(tokio::time::Instant::now() + *interval);
        }
    }
}

impl Stream for WatchStream {
    type Item = Result<WatchResponse>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let mut queue = self.shared.queue.lock();
            if !queue.batches.is_empty() {
                let batches: Vec<Arc<Batch>> = queue.batches.drain(..).collect();
                drop(queue);
                let response = self.respond(&batches);
                if response.events.is_empty() {
                    continue;
                }
                self.reset_progress();
                return Poll::Ready(Some(Ok(response)));
            }
            match queue.mode {
                Mode::Closed => {
                    drop(queue);
                    self.done = true;
                    return Poll::Ready(None);
                }
                Mode::Unsynced { next } => {
                    drop(queue);
                    match self.catch_up(next) {
                        None => {
                            self.done = true;
                            return Poll::Ready(None);
                        }
                        Some(Err(e)) => {
                            self.done = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                        Some(Ok(batches)) => {
                            let response = self.respond(&batches);
                            if !response.events.is_empty() {
                                self.reset_progress();
                                return Poll::Ready(Some(Ok(response)));
                            }
                        }
                    }
                }
                Mode::Synced => {
                    self.shared.waker.register(cx.waker());
                    drop(queue);
                    let Some((_, sleep)) = &mut self.progress else {
                        return Poll::Pending;
                    };
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.reset_progress();
                    if let Some(progress) = self.progress_now() {
                        return Poll::Ready(Some(Ok(progress)));
                    }
                }
            }
        }
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        if let Some(inner) = self.store.upgrade() {
            let mut state = inner.state.lock();
            if let Some(pos) = state.watchers.iter().position(|w| w.id() == self.shared.id) {
                state.watchers.swap_remove(pos);
            }
        }
    }
}
