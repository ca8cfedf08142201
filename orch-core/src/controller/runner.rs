//! The `Controller` runner: informers feed a work queue, workers reconcile.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::informer::{Informer, InformerEvent, InformerFactory};
use super::metrics::ControllerMetrics;
use super::object_key::ObjectKey;
use super::queue::WorkQueue;
use super::rate_limit::RateLimiterConfig;
use super::reconciler::{Context, Reconciler};
use crate::resource::{Object, Resource};

type Feeder = Box<
    dyn FnOnce(WorkQueue<ObjectKey>, CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send,
>;

/// Runs a [`Reconciler`] over the objects of `K`.
///
/// The `Controller` runner: informers feed a work queue, workers reconcile.
///
/// ```no_run
/// # async fn demo(factory: std::sync::Arc<orch_core::controller::InformerFactory>, r: std::sync::Arc<impl orch_core::controller::Reconciler<Object = orch_core::ReplicaSet>>) {
/// use orch_core::controller::Controller;
/// use orch_core::{Pod, ReplicaSet};
/// use tokio_util::sync::CancellationToken;
///
/// let shutdown = CancellationToken::new();
/// Controller::<ReplicaSet>::new(factory.clone())
///     .owns::<Pod>()          // a pod's change reconciles its owning ReplicaSet
///     .concurrency(4)
///     .run(r, shutdown.clone())
///     .await;
/// # }
/// ```
///
/// * The first reconcile waits until every informer of the factory has
///   listed ([`InformerFactory::wait_ready`]), so a reconciler never reads a
///   cache that is still empty — as controller-runtime waits for its caches.
/// * A key is never reconciled twice at once; a change during a reconcile
///   reconciles it again afterwards.
/// * Errors go through the reconciler's `error_policy` (by default the key's
///   rate-limited backoff); success forgets the key's backoff.
/// * Shutdown (cancelling the token given to [`Controller::run`]) stops new
///   reconciles at once; reconciles in flight finish, then `run` returns.
///   Every long-running part of orch runs this way: an async `run` that
///   takes the `shutdown` token and returns once it has stopped
///   (`Scheduler`, `NodeAgent`, `GarbageCollector`, `LeaderElector`,
///   `Compactor`).
#[must_use = "a Controller does nothing until run"]
pub struct Controller<K: Resource> {
    name: String,
    factory: Arc<InformerFactory>,
    main: Informer<K>,
    feeders: Vec<Feeder>,
    concurrency: usize,
    rate_limiter: RateLimiterConfig,
    metrics: Option<Arc<ControllerMetrics>>,
}

/// Sends every event of `informer` through `map` into the queue; on a
/// resync, every cached object.
fn feed<O: Object, F>(informer: Informer<O>, map: F) -> Feeder
where
    F: Fn(&O) -> Vec<ObjectKey> + Send + Sync + 'static,
{
    let mut sub = informer.subscribe();
    Box::new(move |queue: WorkQueue<ObjectKey>, stop: CancellationToken| {
        Box::pin(async move {
            let enqueue_all = |queue: &WorkQueue<ObjectKey>| {
                for obj in informer.cache().list() {
                    for key in map(&obj) {
                        queue.add(key);
                    }
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = informer.cache().wait_ready() => enqueue_all(&queue),
            }
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => return,
                    e = sub.recv() => e,
                };
                match event {
                    Some(InformerEvent::Applied(o)) | Some(InformerEvent::Deleted(o)) => {
                        for key in map(&o) {
                            queue.add(key);
                        }
                    }
                    Some(InformerEvent::Resync) => enqueue_all(&queue),
                    None => return,
                }
            }
        })
    })
}

impl<K: Resource> Controller<K> {
    /// A controller of `K`, using the factory's shared informers.
    pub fn new(factory: Arc<InformerFactory>) -> Self {
        let main = factory.informer::<K>();
        let feeders = vec![feed(main.clone(), |o: &K| vec![ObjectKey::of(o)])];
        Controller {
            name: K::KIND.to_lowercase(),
            factory,
            main,
            feeders,
            concurrency: 1,
            rate_limiter: RateLimiterConfig::default(),
            metrics: None,
        }
    }

    /// Reconciles an owner when a child it owns changes: each owner
    /// reference of kind `K` in a `C` maps to that owner's key.
    pub fn owns<C: Resource>(mut self) -> Self {
        let informer = self.factory.informer::<C>();
        let api_version = K::api_resource().api_version;
        self.feeders.push(feed(informer, move |child: &C| {
            let namespace =
                if K::NAMESPACED { child.meta().namespace.clone() } else { String::new() };
            child
                .meta()
                .owner_references
                .iter()
                .filter(|o| o.kind == K::KIND && o.api_version == api_version)
                .map(|o| ObjectKey::new(namespace.clone(), o.name.clone()))
                .collect()
        }));
        self
    }

    /// Reconciles the keys `mapper` returns whenever an `O` changes.
    pub fn watches<O: Resource>(
        mut self,
        mapper: impl Fn(&O) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        let informer = self.factory.informer::<O>();
        self.feeders.push(feed(informer, mapper));
        self
    }

    /// Names the controller in logs, spans and metrics (default: the kind in
    /// lower case).
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Reconciles at most `n` keys at once (default 1; at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The backoff settings of the work queue.
    pub fn rate_limiter(mut self, config: RateLimiterConfig) -> Self {
        self.rate_limiter = config;
        self
    }

    /// Records metrics here.
    pub fn metrics(mut self, metrics: Arc<ControllerMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The cache of the main kind.
    pub fn cache(&self) -> &super::cache::Cache<K> {
        self.main.cache()
    }

    /// Runs `reconciler` until `shutdown` is cancelled: then no new
    /// reconcile starts, those in flight finish, and `run` returns.
    pub async fn run<R>(self, reconciler: Arc<R>, shutdown: CancellationToken)
    where
        R: Reconciler<Object = K>,
    {
        let queue: WorkQueue<ObjectKey> = WorkQueue::with_rate_limiter(self.rate_limiter);
        if let Some(m) = &self.metrics {
            queue.set_metrics(m.work_queue(&self.name));
        }
        let stop = shutdown;
        let feeders: Vec<_> = self
            .feeders
            .into_iter()
            .map(|f| tokio::spawn(f(queue.clone(), stop.clone())))
            .collect();
        let name: Arc<str> = Arc::from(self.name.as_str());
        // No reconcile before every cache has listed: a reconciler reading a
        // cache that is still empty would act on a world without objects
        // (a ReplicaSet controller would create every replica again).
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = self.factory.wait_ready() => {}
        }
        let workers = (0..self.concurrency).map(|_| {
            let worker = Worker {
                name: name.clone(),
                queue: queue.clone(),
                cache: self.main.cache().clone(),
                reconciler: reconciler.clone(),
                metrics: self.metrics.clone(),
                stop: stop.clone(),
            };
            tokio::spawn(worker.run())
        });
        let _ = join_all(workers).await;
        queue.shut_down();
        for f in feeders {
            f.abort();
        }
        tracing::info!(controller = %name, "controller stopped");
    }
}

struct Worker<R: Reconciler> {
    name: Arc<str>,
    queue: WorkQueue<ObjectKey>,
    cache: super::cache::Cache<R::Object>,
    reconciler: Arc<R>,
    metrics: Option<Arc<ControllerMetrics>>,
    stop: CancellationToken,
}

impl<R: Reconciler> Worker<R> {
    async fn run(self) {
        loop {
            let key = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return,
                key = self.queue.get() => match key {
                    Some(k) => k,
                    None => return,
                },
            };
            self.reconcile(&key).await;
            self.queue.done(&key);
        }
    }

    async fn reconcile(&self, key: &ObjectKey) {
        let Some(obj) = self.cache.get(key) else {
            // Deleted since it was queued: nothing to reconcile.
            self.queue.forget(key);
            return;
        };
        let ctx = Context {
            key: key.clone(),
            retries: self.queue.retries(key),
            shutdown: self.stop.clone(),
        };
        let span = tracing::info_span!("reconcile", controller = %self.name, object = %key);
        let result = self.reconciler.reconcile(obj.clone(), &ctx).instrument(span.clone()).await;
        if let Some(m) = &self.metrics {
            m.reconciled(&self.name, result.is_err());
        }
        let action = match result {
            Ok(action) => {
                self.queue.forget(key);
                action
            }
            Err(e) => {
                span.in_scope(
                    || tracing::warn!(error = %e, retries = ctx.retries, "reconcile failed"),
                );
                self.reconciler.error_policy(&obj, &e, &ctx)
            }
        };
        if action.is_backoff() {
            self.queue.add_rate_limited(key.clone());
        } else if let Some(after) = action.requeue_after() {
            self.queue.add_after(key.clone(), after);
        }
    }
}
