//! The garbage collector, after Kubernetes' `garbagecollector` controller.
//!
//! * **Background**: a dependent whose owners (by owner reference uid) are all
//!   gone is deleted; owner references to owners that are gone while others
//!   remain are removed.
//! * **Foreground**: an owner deleted with `DeleteParams::foreground()`
//!   carries the `foregroundDeletion` finalizer; the collector deletes its
//!   dependents (in the foreground too, so it cascades) and removes the
//!   finalizer once no dependent with `blockOwnerDeletion` is left.
//! * **Orphan**: an owner deleted with `DeleteParams::orphan()` carries the
//!   `orphan` finalizer; the collector removes the owner's references from its
//!   dependents, then the finalizer.
//!
//! It watches the kinds registered with [`GarbageCollector::kind`]; owners of
//! other kinds are assumed to exist. An owner missing from the cache is
//! confirmed gone with a live read (by name and uid) before anything is
//! deleted, so informer lag never deletes a dependent of a new owner.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::join_all;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use orch_core::api::{Api, DeleteParams, FINALIZER_FOREGROUND, FINALIZER_ORPHAN};
use orch_core::controller::{
    Cache, Informer, InformerEvent, InformerFactory, ObjectKey, WorkQueue, INDEX_OWNER,
};
use orch_core::kinds::{ConfigMap, Deployment, Pod, ReplicaSet, Secret};
use orch_core::meta::ObjectMeta;
use orch_core::resource::Resource;
use orch_core::Error;

/// One watched kind, with its type erased.
#[async_trait]
trait GcKind: Send + Sync {
    fn api_version(&self) -> &str;
    fn kind(&self) -> &str;
    fn namespaced(&self) -> bool;
    fn meta(&self, key: &ObjectKey) -> Option<ObjectMeta>;
    fn owned_by(&self, uid: &str) -> Vec<ObjectMeta>;
    fn keys(&self) -> Vec<ObjectKey>;
    async fn wait_ready(&self);
    /// The uid of the object as stored now, `None` if it does not exist.
    async fn live_uid(&self, key: &ObjectKey) -> Result<Option<String>, Error>;
    async fn delete(&self, key: &ObjectKey, params: &DeleteParams) -> Result<(), Error>;
    async fn patch(&self, key: &ObjectKey, patch: &serde_json::Value) -> Result<(), Error>;
}

struct Kind<K: Resource> {
    factory: Arc<InformerFactory>,
    informer: Informer<K>,
    api_version: String,
}

impl<K: Resource> Kind<K> {
    fn cache(&self) -> &Cache<K> {
        self.informer.cache()
    }

    fn api(&self, namespace: &str) -> Api<K> {
        if K::NAMESPACED {
            Api::namespaced(self.factory.store().clone(), namespace)
        } else {
            Api::all(self.factory.store().clone())
        }
    }
}

fn ignore_gone(r: Result<(), Error>) -> Result<(), Error> {
    match r {
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        other => other,
    }
}

#[async_trait]
impl<K: Resource> GcKind for Kind<K> {
    fn api_version(&self) -> &str {
        &self.api_version
    }
    fn kind(&self) -> &str {
        K::KIND
    }
    fn namespaced(&self) -> bool {
        K::NAMESPACED
    }
    fn meta(&self, key: &ObjectKey) -> Option<ObjectMeta> {
        self.cache().get(key).map(|o| o.meta().clone())
    }
    fn owned_by(&self, uid: &str) -> Vec<ObjectMeta> {
        self.cache().by_index(INDEX_OWNER, uid).iter().map(|o| o.meta().clone()).collect()
    }
    fn keys(&self) -> Vec<ObjectKey> {
        self.cache().keys()
    }
    async fn wait_ready(&self) {
        self.cache().wait_ready().await
    }
    async fn live_uid(&self, key: &ObjectKey) -> Result<Option<String>, Error> {
        Ok(self.api(&key.namespace).get_opt(&key.name).await?.map(|o| o.meta().uid.clone()))
    }
    async fn delete(&self, key: &ObjectKey, params: &DeleteParams) -> Result<(), Error> {
        ignore_gone(self.api(&key.namespace).delete(&key.name, params).await.map(|_| ()))
    }
    async fn patch(&self, key: &ObjectKey, patch: &serde_json::Value) -> Result<(), Error> {
        ignore_gone(self.api(&key.namespace).patch(&key.name, patch).await.map(|_| ()))
    }
}

/// A queued item: a kind (index into the registered kinds) and an object key.
type Item = (usize, ObjectKey);

/// Starts the task that turns one kind's informer events into queued items.
type Feeder = Box<
    dyn FnOnce(
            WorkQueue<Item>,
            Arc<[Arc<dyn GcKind>]>,
            CancellationToken,
        ) -> tokio::task::JoinHandle<()>
        + Send,
>;

/// The garbage collector. See the [module docs](self).
#[must_use = "a GarbageCollector does nothing until run"]
pub struct GarbageCollector {
    factory: Arc<InformerFactory>,
    kinds: Vec<Arc<dyn GcKind>>,
    feeders: Vec<Feeder>,
    metrics: Option<orch_core::controller::WorkQueueMetrics>,
}

impl std::fmt::Debug for GarbageCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GarbageCollector")
            .field("kinds", &self.kinds.iter().map(|k| k.kind().to_owned()).collect::<Vec<_>>())
            .finish()
    }
}

impl GarbageCollector {
    /// A collector over no kinds yet; add them with [`kind`](Self::kind) or
    /// [`builtin_kinds`](Self::builtin_kinds).
    pub fn new(factory: Arc<InformerFactory>) -> Self {
        GarbageCollector { factory, kinds: Vec::new(), feeders: Vec::new(), metrics: None }
    }

    /// Records its work queue's client-go metrics as the queue
    /// `garbagecollector` (`workqueue_*{name="garbagecollector"}`).
    pub fn metrics(mut self, metrics: &orch_core::controller::ControllerMetrics) -> Self {
        self.metrics = Some(metrics.work_queue("garbagecollector"));
        self
    }

    /// Watches Deployments, ReplicaSets, Pods, ConfigMaps and Secrets.
    pub fn builtin_kinds(self) -> Self {
        self.kind::<Deployment>()
            .kind::<ReplicaSet>()
            .kind::<Pod>()
            .kind::<ConfigMap>()
            .kind::<Secret>()
    }

    /// Watches `K` as owner and as dependent.
    pub fn kind<K: Resource>(mut self) -> Self {
        let index = self.kinds.len();
        let informer = self.factory.informer::<K>();
        let mut sub = informer.subscribe();
        self.kinds.push(Arc::new(Kind::<K> {
            factory: self.factory.clone(),
            informer,
            api_version: K::api_resource().api_version,
        }));
        self.feeders.push(Box::new(move |queue, kinds, stop| {
            tokio::spawn(async move {
                loop {
                    let event = tokio::select! {
                        _ = stop.cancelled() => return,
                        e = sub.recv() => e,
                    };
                    match event {
                        Some(InformerEvent::Applied(o)) => queue.add((index, ObjectKey::of(&*o))),
                        Some(InformerEvent::Deleted(o)) => {
                            // Its dependents may be orphans now, and its owners
                            // may be waiting for it to go.
                            let meta = o.meta();
                            for (j, kind) in kinds.iter().enumerate() {
                                for dep in kind.owned_by(&meta.uid) {
                                    queue.add((j, ObjectKey::new(dep.namespace, dep.name)));
                                }
                            }
                            for owner in &meta.owner_references {
                                if let Some(j) = kinds.iter().position(|k| {
                                    k.kind() == owner.kind && k.api_version() == owner.api_version
                                }) {
                                    let ns = if kinds[j].namespaced() {
                                        meta.namespace.clone()
                                    } else {
                                        String::new()
                                    };
                                    queue.add((j, ObjectKey::new(ns, owner.name.clone())));
                                }
                            }
                        }
                        Some(InformerEvent::Resync) => {
                            for key in kinds[index].keys() {
                                queue.add((index, key));
                            }
                        }
                        None => return,
                    }
                }
            })
        }));
        self
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let kinds: Arc<[Arc<dyn GcKind>]> = self.kinds.into();
        let queue: WorkQueue<Item> = WorkQueue::new();
        if let Some(m) = self.metrics {
            queue.set_metrics(m);
        }
        let feeders: Vec<_> = self
            .feeders
            .into_iter()
            .map(|f| f(queue.clone(), kinds.clone(), shutdown.clone()))
            .collect();
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = join_all(kinds.iter().map(|k| k.wait_ready())) => {}
        }
        for (i, k) in kinds.iter().enumerate() {
            for key in k.keys() {
                queue.add((i, key));
            }
        }
        loop {
            let item = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                item = queue.get() => match item { Some(i) => i, None => break },
            };
            match process(&kinds, &item).await {
                Ok(()) => queue.forget(&item),
                Err(e) => {
                    tracing::warn!(kind = kinds[item.0].kind(), object = %item.1, error = %e, "garbage collection failed; retrying");
                    queue.add_rate_limited(item.clone());
                }
            }
            queue.done(&item);
        }
        queue.shut_down();
        for f in feeders {
            f.abort();
        }
    }
}

/// All dependents of `uid`, with their kind index.
fn dependents(kinds: &[Arc<dyn GcKind>], uid: &str) -> Vec<(usize, ObjectMeta)> {
    kinds
        .iter()
        .enumerate()
        .flat_map(|(j, k)| k.owned_by(uid).into_iter().map(move |m| (j, m)))
        .collect()
}

async fn remove_finalizer(
    kind: &dyn GcKind,
    key: &ObjectKey,
    meta: &ObjectMeta,
    finalizer: &str,
) -> Result<(), Error> {
    let rest: Vec<&String> = meta.finalizers.iter().filter(|f| *f != finalizer).collect();
    kind.patch(
        key,
        &json!({"metadata": {"finalizers": rest, "resourceVersion": meta.resource_version}}),
    )
    .await
}

async fn process(kinds: &[Arc<dyn GcKind>], (i, key): &Item) -> Result<(), Error> {
    let kind = &kinds[*i];
    let Some(meta) = kind.meta(key) else {
        return Ok(());
    };
    if meta.is_deleting() {
        if meta.finalizers.iter().any(|f| f == FINALIZER_ORPHAN) {
            for (j, dep) in dependents(kinds, &meta.uid) {
                let refs: Vec<_> =
                    dep.owner_references.iter().filter(|o| o.uid != meta.uid).collect();
                let dep_key = ObjectKey::new(dep.namespace.clone(), dep.name.clone());
                kinds[j]
                    .patch(&dep_key, &json!({"metadata": {"ownerReferences": refs, "resourceVersion": dep.resource_version}}))
                    .await?;
            }
            if dependents(kinds, &meta.uid).is_empty() {
                remove_finalizer(kind.as_ref(), key, &meta, FINALIZER_ORPHAN).await?;
            }
            return Ok(());
        }
        if meta.finalizers.iter().any(|f| f == FINALIZER_FOREGROUND) {
            let deps = dependents(kinds, &meta.uid);
            for (j, dep) in &deps {
                if !dep.is_deleting() {
                    let dep_key = ObjectKey::new(dep.namespace.clone(), dep.name.clone());
                    kinds[*j].delete(&dep_key, &DeleteParams::foreground()).await?;
                }
            }
            let blocking = deps.iter().any(|(_, dep)| {
                dep.owner_references
                    .iter()
                    .any(|o| o.uid == meta.uid && o.block_owner_deletion == Some(true))
            });
            if !blocking {
                remove_finalizer(kind.as_ref(), key, &meta, FINALIZER_FOREGROUND).await?;
            }
            return Ok(());
        }
    }
    if meta.owner_references.is_empty() {
        return Ok(());
    }
    let mut dangling = Vec::new();
    for owner in &meta.owner_references {
        let Some(j) = kinds
            .iter()
            .position(|k| k.kind() == owner.kind && k.api_version() == owner.api_version)
        else {
            continue; // A kind we do not watch: assume it exists.
        };
        let ns = if kinds[j].namespaced() { meta.namespace.clone() } else { String::new() };
        let owner_key = ObjectKey::new(ns, owner.name.clone());
        let cached = kinds[j].meta(&owner_key).map(|m| m.uid);
        if cached.as_deref() == Some(owner.uid.as_str()) {
            continue;
        }
        // Missing or different in the cache: ask the store, as the cache may lag.
        if kinds[j].live_uid(&owner_key).await?.as_deref() != Some(owner.uid.as_str()) {
            dangling.push(owner.uid.clone());
        }
    }
    if dangling.is_empty() {
        return Ok(());
    }
    if dangling.len() == meta.owner_references.len() {
        tracing::debug!(kind = kind.kind(), object = %key, "owners gone; deleting dependent");
        return kind.delete(key, &DeleteParams::default()).await;
    }
    let refs: Vec<_> =
        meta.owner_references.iter().filter(|o| !dangling.contains(&o.uid)).collect();
    kind.patch(
        key,
        &json!({"metadata": {"ownerReferences": refs, "resourceVersion": meta.resource_version}}),
    )
    .await
}
