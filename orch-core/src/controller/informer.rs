//! Informers: one watcher per kind feeding a [`Cache`] and any number of
//! subscribers, and the [`InformerFactory`] that shares them — one watch per
//! kind per process, however many controllers use the kind.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::cache::{Cache, Readiness};
use super::object_key::ObjectKey;
use super::watcher::{watcher, WatcherConfig, WatcherEvent};
use crate::api::Api;
use crate::resource::{Object, Resource};
use crate::store::Store;

/// How many events a subscriber may fall behind before it is told to resync.
const SUBSCRIBER_BUFFER: usize = 4096;

/// What an informer tells its subscribers, after its cache has the change.
#[derive(Debug)]
pub enum InformerEvent<K> {
    /// An object was created or changed.
    Applied(Arc<K>),
    /// An object was deleted (its last state).
    Deleted(Arc<K>),
    /// The cache was replaced by a fresh list (or this subscriber fell
    /// behind): treat every cached object as changed.
    Resync,
}

impl<K> Clone for InformerEvent<K> {
    fn clone(&self) -> Self {
        match self {
            InformerEvent::Applied(o) => InformerEvent::Applied(o.clone()),
            InformerEvent::Deleted(o) => InformerEvent::Deleted(o.clone()),
            InformerEvent::Resync => InformerEvent::Resync,
        }
    }
}

/// One kind's shared watch: its cache and its event feed. Cheap to clone.
pub struct Informer<K> {
    cache: Cache<K>,
    events: broadcast::Sender<InformerEvent<K>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer { cache: self.cache.clone(), events: self.events.clone() }
    }
}

/// A subscription to an informer's events.
pub struct Subscription<K> {
    rx: broadcast::Receiver<InformerEvent<K>>,
}

impl<K: Object> Subscription<K> {
    /// The next event; [`InformerEvent::Resync`] if this subscriber fell
    /// behind; `None` once the informer has stopped.
    pub async fn recv(&mut self) -> Option<InformerEvent<K>> {
        match self.rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(InformerEvent::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl<K: Object> Informer<K> {
    /// Starts an informer over `api` on the current tokio runtime; it runs
    /// until `shutdown` is cancelled.
    pub fn spawn(api: Api<K>, config: WatcherConfig, shutdown: CancellationToken) -> Self {
        let (events, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let informer = Informer { cache: Cache::new(), events };
        let run = informer.clone();
        let kind = api.resource().kind.clone();
        tokio::spawn(async move {
            let mut stream = watcher(api, config);
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = stream.next() => next,
                };
                match next {
                    Some(Ok(event)) => run.apply(event),
                    Some(Err(e)) => {
                        tracing::warn!(kind = %kind, error = %e, "informer watch failed; retrying")
                    }
                    None => break,
                }
            }
        });
        informer
    }

    fn apply(&self, event: WatcherEvent<K>) {
        // Update the cache first, so subscribers that read it see the change.
        let out = match event {
            WatcherEvent::Restarted(items) => {
                self.cache.replace_all(items.into_iter().map(Arc::new).collect());
                InformerEvent::Resync
            }
            WatcherEvent::Applied(obj) => {
                let obj = Arc::new(obj);
                self.cache.insert_arc(obj.clone());
                InformerEvent::Applied(obj)
            }
            WatcherEvent::Deleted(obj) => {
                self.cache.remove(&ObjectKey::of(&obj));
                InformerEvent::Deleted(Arc::new(obj))
            }
        };
        // No subscribers is fine.
        let _ = self.events.send(out);
    }

    /// The cache.
    pub fn cache(&self) -> &Cache<K> {
        &self.cache
    }

    /// Subscribes to events from now on. Read the cache after subscribing to
    /// see everything: what happened before is in the cache, what happens
    /// after arrives as events.
    pub fn subscribe(&self) -> Subscription<K> {
        Subscription { rx: self.events.subscribe() }
    }
}

/// One kind's informer (an `Informer<K>` behind `Any`) and its cache's
/// readiness.
type SharedInformer = (Arc<dyn Any + Send + Sync>, Readiness);

/// Shares one informer per kind (and namespace scope) among every
/// controller of a process.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use orch_core::controller::InformerFactory;
/// use orch_core::Pod;
///
/// let factory = InformerFactory::new(Arc::new(orch_store::MemStore::new()));
/// let pods = factory.informer::<Pod>();
/// let again = factory.informer::<Pod>(); // the same watch and cache
/// pods.cache().wait_ready().await;
/// assert!(again.cache().is_ready());
/// factory.shutdown();
/// # });
/// ```
pub struct InformerFactory {
    store: Arc<dyn Store>,
    namespace: Option<String>,
    informers: Mutex<HashMap<TypeId, SharedInformer>>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for InformerFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InformerFactory")
            .field("namespace", &self.namespace)
            .field("informers", &self.informers.lock().len())
            .finish()
    }
}

impl InformerFactory {
    /// Informers over every namespace.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_scope(store, None)
    }

    /// Informers over one namespace (cluster-scoped kinds are watched whole).
    pub fn namespaced(store: Arc<dyn Store>, namespace: &str) -> Self {
        Self::with_scope(store, Some(namespace.to_owned()))
    }

    fn with_scope(store: Arc<dyn Store>, namespace: Option<String>) -> Self {
        InformerFactory {
            store,
            namespace,
            informers: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        }
    }

    /// The store the informers watch.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The informer of `K`, started on the current tokio runtime on first use.
    pub fn informer<K: Resource>(&self) -> Informer<K> {
        let mut informers = self.informers.lock();
        if let Some((existing, _)) = informers.get(&TypeId::of::<K>()) {
            if let Some(informer) = existing.downcast_ref::<Informer<K>>() {
                return informer.clone();
            }
        }
        let api = match &self.namespace {
            Some(ns) => Api::<K>::namespaced(self.store.clone(), ns),
            None => Api::<K>::all(self.store.clone()),
        };
        let informer = Informer::spawn(api, WatcherConfig::default(), self.shutdown.child_token());
        let readiness = informer.cache().readiness();
        informers.insert(TypeId::of::<K>(), (Arc::new(informer.clone()), readiness));
        informer
    }

    /// Waits until every informer made so far has applied its first list
    /// (client-go's `WaitForCacheSync` over a shared informer factory).
    /// [`Controller::run`](super::Controller::run) waits for this before its
    /// first reconcile, so a reconciler never reads a cache, its own or one
    /// it took from this factory, that has not listed yet.
    pub async fn wait_ready(&self) {
        let pending: Vec<Readiness> = self
            .informers
            .lock()
            .values()
            .map(|(_, ready)| ready.clone())
            .filter(|ready| !ready.is_ready())
            .collect();
        for ready in pending {
            ready.wait().await;
        }
    }

    /// Stops every informer.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for InformerFactory {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
