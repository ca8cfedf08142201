//! The reflector cache: the informer's copy of every object of one kind, as
//! `Arc<K>`, with indexes. Reads take a read lock for a moment and clone
//! `Arc`s; writes come from one informer.
//!
//! Built-in indexes: [`INDEX_NAMESPACE`], [`INDEX_OWNER`] (every owner uid),
//! [`INDEX_LABEL`] (`key=value` per label) and [`INDEX_NODE_NAME`] (Pods'
//! `spec.nodeName`); more with [`Cache::add_index`].

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::Notify;

use super::object_key::ObjectKey;
use super::watcher::WatcherEvent;
use crate::resource::Object;

/// Index of objects by namespace.
pub const INDEX_NAMESPACE: &str = "namespace";
/// Index of objects by the uid of each of their owners.
pub const INDEX_OWNER: &str = "owner";
/// Index of objects by `key=value` for each label.
pub const INDEX_LABEL: &str = "label";
/// Index of Pods by `spec.nodeName` (objects without the field are not indexed).
pub const INDEX_NODE_NAME: &str = "spec.nodeName";

/// A function from an object to the index values it is found under.
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

struct State<K> {
    objects: HashMap<ObjectKey, Arc<K>>,
    indexers: Vec<(String, IndexFn<K>)>,
    /// index name → value → keys.
    indexes: HashMap<String, HashMap<String, BTreeSet<ObjectKey>>>,
}

impl<K: Object> State<K> {
    fn index(&mut self, key: &ObjectKey, obj: &K, add: bool) {
        for (name, f) in &self.indexers {
            let index = self.indexes.entry(name.clone()).or_default();
            for value in f(obj) {
                if add {
                    index.entry(value).or_default().insert(key.clone());
                } else if let Some(keys) = index.get_mut(&value) {
                    keys.remove(key);
                    if keys.is_empty() {
                        index.remove(&value);
                    }
                }
            }
        }
    }

    fn insert(&mut self, obj: Arc<K>) {
        let key = ObjectKey::of(&*obj);
        if let Some(old) = self.objects.remove(&key) {
            self.index(&key, &old, false);
        }
        self.index(&key, &obj, true);
        self.objects.insert(key, obj);
    }

    fn remove(&mut self, key: &ObjectKey) -> Option<Arc<K>> {
        let old = self.objects.remove(key)?;
        self.index(key, &old, false);
        Some(old)
    }
}

/// Whether a cache has applied its first list, without its kind: what the
/// [`InformerFactory`](super::InformerFactory) waits on for every informer.
#[derive(Clone, Default)]
pub(crate) struct Readiness(Arc<(AtomicBool, Notify)>);

impl Readiness {
    fn set(&self) {
        self.0 .0.store(true, Ordering::Release);
        self.0 .1.notify_waiters();
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.0 .0.load(Ordering::Acquire)
    }

    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.0 .1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_ready() {
                return;
            }
            notified.await;
        }
    }
}

/// The reflector cache of one kind. Cheap to clone; clones share the cache.
pub struct Cache<K> {
    state: Arc<RwLock<State<K>>>,
    ready: Readiness,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Cache { state: self.state.clone(), ready: self.ready.clone() }
    }
}

impl<K: Object> Default for Cache<K> {
    fn default() -> Self {
        Self::new()
    }
}

fn namespace_index<K: Object>(obj: &K) -> Vec<String> {
    vec![obj.meta().namespace.clone()]
}

fn owner_index<K: Object>(obj: &K) -> Vec<String> {
    obj.meta().owner_references.iter().map(|o| o.uid.clone()).collect()
}

fn label_index<K: Object>(obj: &K) -> Vec<String> {
    obj.meta().labels.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn node_name_index<K: Object>(obj: &K) -> Vec<String> {
    obj.field("spec.nodeName").filter(|n| !n.is_empty()).into_iter().collect()
}

impl<K: Object> Cache<K> {
    /// An empty cache with the built-in indexes; not ready until the first
    /// list has been applied.
    pub fn new() -> Self {
        let indexers: Vec<(String, IndexFn<K>)> = vec![
            (INDEX_NAMESPACE.into(), Arc::new(namespace_index::<K>)),
            (INDEX_OWNER.into(), Arc::new(owner_index::<K>)),
            (INDEX_LABEL.into(), Arc::new(label_index::<K>)),
            (INDEX_NODE_NAME.into(), Arc::new(node_name_index::<K>)),
        ];
        Cache {
            state: Arc::new(RwLock::new(State {
                objects: HashMap::new(),
                indexers,
                indexes: HashMap::new(),
            })),
            ready: Readiness::default(),
        }
    }

    /// Adds (or replaces) an index and builds it over the current objects.
    pub fn add_index(&self, name: &str, f: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) {
        let mut s = self.state.write();
        s.indexers.retain(|(n, _)| n != name);
        s.indexers.push((name.to_owned(), Arc::new(f)));
        s.indexes.remove(name);
        let objects: Vec<(ObjectKey, Arc<K>)> =
            s.objects.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let Some((_, f)) = s.indexers.last().cloned() else {
            return;
        };
        let index = s.indexes.entry(name.to_owned()).or_default();
        for (key, obj) in objects {
            for value in f(&obj) {
                index.entry(value).or_default().insert(key.clone());
            }
        }
    }

    /// Applies a watcher event: a `Restarted` list replaces the contents
    /// atomically (readers see the old set or the new one, never a mix) and
    /// marks the cache ready.
    pub fn apply(&self, event: &WatcherEvent<K>) {
        match event {
            WatcherEvent::Restarted(items) => {
                self.replace_all(items.iter().cloned().map(Arc::new).collect())
            }
            WatcherEvent::Applied(obj) => self.insert_arc(Arc::new(obj.clone())),
            WatcherEvent::Deleted(obj) => {
                self.remove(&ObjectKey::of(obj));
            }
        }
    }

    /// Inserts or replaces one object (used by the informer, which already
    /// holds it in an `Arc`).
    pub(crate) fn insert_arc(&self, obj: Arc<K>) {
        self.state.write().insert(obj);
    }

    /// Removes one object.
    pub(crate) fn remove(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.state.write().remove(key)
    }

    /// Replaces everything and marks the cache ready.
    pub(crate) fn replace_all(&self, items: Vec<Arc<K>>) {
        let mut s = self.state.write();
        s.objects.clear();
        s.indexes.clear();
        for obj in items {
            s.insert(obj);
        }
        drop(s);
        self.ready.set();
    }

    /// The object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.state.read().objects.get(key).cloned()
    }

    /// Every object, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.state.read().objects.values().cloned().collect()
    }

    /// Every key.
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.state.read().objects.keys().cloned().collect()
    }

    /// The objects found under `value` in index `index`.
    pub fn by_index(&self, index: &str, value: &str) -> Vec<Arc<K>> {
        let s = self.state.read();
        let Some(keys) = s.indexes.get(index).and_then(|i| i.get(value)) else {
            return Vec::new();
        };
        keys.iter().filter_map(|k| s.objects.get(k).cloned()).collect()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.state.read().objects.len()
    }

    /// True if there are no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the first list has been applied.
    pub fn is_ready(&self) -> bool {
        self.ready.is_ready()
    }

    /// Waits until the first list has been applied.
    pub async fn wait_ready(&self) {
        self.ready.wait().await
    }

    /// The cache's readiness, shared with the cache.
    pub(crate) fn readiness(&self) -> Readiness {
        self.ready.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::pod::Pod;
    use crate::meta::{ObjectMeta, OwnerReference};

    fn pod(name: &str, node: Option<&str>, owner: &str) -> Pod {
        let mut p = Pod {
            metadata: ObjectMeta::named(name).in_namespace("default").with_label("app", "web"),
            ..Default::default()
        };
        p.spec.node_name = node.map(str::to_owned);
        p.metadata
            .owner_references
            .push(OwnerReference { uid: owner.into(), ..Default::default() });
        p
    }

    #[test]
    fn indexes_follow_updates_and_restarts() {
        let cache: Cache<Pod> = Cache::new();
        assert!(!cache.is_ready());
        cache.apply(&WatcherEvent::Restarted(vec![
            pod("a", Some("n1"), "rs1"),
            pod("b", None, "rs1"),
        ]));
        assert!(cache.is_ready());
        assert_eq!(cache.by_index(INDEX_OWNER, "rs1").len(), 2);
        assert_eq!(cache.by_index(INDEX_NODE_NAME, "n1").len(), 1);
        assert_eq!(cache.by_index(INDEX_LABEL, "app=web").len(), 2);
        assert_eq!(cache.by_index(INDEX_NAMESPACE, "default").len(), 2);

        cache.apply(&WatcherEvent::Applied(pod("b", Some("n1"), "rs2")));
        assert_eq!(cache.by_index(INDEX_NODE_NAME, "n1").len(), 2);
        assert_eq!(cache.by_index(INDEX_OWNER, "rs1").len(), 1, "old index entries go");
        cache.apply(&WatcherEvent::Deleted(pod("a", Some("n1"), "rs1")));
        assert!(cache.by_index(INDEX_OWNER, "rs1").is_empty());
        assert_eq!(cache.len(), 1);

        cache.add_index("first-letter", |p: &Pod| vec![p.metadata.name[..1].to_owned()]);
        assert_eq!(cache.by_index("first-letter", "b").len(), 1);
        cache.apply(&WatcherEvent::Restarted(vec![pod("c", None, "rs3")]));
        assert!(cache.get(&ObjectKey::new("default", "b")).is_none());
        assert_eq!(cache.by_index("first-letter", "c").len(), 1);
        assert!(cache.by_index(INDEX_NODE_NAME, "n1").is_empty());
    }
}
