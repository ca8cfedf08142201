//! The scheduler cache: every node with the pods on it, including pods that
//! are *assumed* — placed by the scheduler but not yet seen bound — and the
//! snapshot each scheduling cycle reads.
//!
//! As kube-scheduler's cache: a pod is assumed at Reserve; once its binding
//! finished, the assumption expires after a TTL unless the informer confirms
//! the pod on that node; a failed binding forgets it.

mod index;
mod node_info;

pub use index::{equality_requirement, AntiTermRef, PodIndex};
pub use node_info::{
    AffinityTerm, HostPort, NodeInfo, PodInfo, Resources, DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use orch_core::{Node, Pod};
use tokio::time::Instant;

#[derive(Debug)]
struct PodState {
    pod: Arc<PodInfo>,
    node: String,
    assumed: bool,
    /// For an assumed pod whose binding finished: when the assumption lapses.
    deadline: Option<Instant>,
}

/// A consistent view of every node for one scheduling cycle. Cheap to keep:
/// nodes are shared `Arc`s, and each cycle replaces only those that changed.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: Vec<Arc<NodeInfo>>,
    index: HashMap<String, usize>,
    generation: u64,
    pods: PodIndex,
}

impl Snapshot {
    /// A snapshot of exactly these nodes (for tests and benchmarks).
    pub fn from_nodes(nodes: Vec<NodeInfo>) -> Self {
        let nodes: Vec<Arc<NodeInfo>> = nodes.into_iter().map(Arc::new).collect();
        let index = nodes.iter().enumerate().map(|(i, n)| (n.name().to_owned(), i)).collect();
        let generation = nodes.iter().map(|n| n.generation).max().unwrap_or(0);
        let mut pods = PodIndex::default();
        for (i, n) in nodes.iter().enumerate() {
            pods.index_node(i, n, true);
        }
        Snapshot { nodes, index, generation, pods }
    }

    /// The pod indexes (by label, anti-affinity terms, topology values).
    pub fn pods(&self) -> &PodIndex {
        &self.pods
    }

    /// Every node.
    pub fn nodes(&self) -> &[Arc<NodeInfo>] {
        &self.nodes
    }

    /// One node by name.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The scheduler's cache. Not synchronized itself: the scheduler holds it
/// behind a mutex.
#[derive(Debug)]
pub struct Cache {
    nodes: HashMap<String, NodeInfo>,
    pods: HashMap<String, PodState>,
    generation: u64,
    dirty: HashSet<String>,
    membership_changed: bool,
    assumed_ttl: Duration,
}

impl Default for Cache {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl Cache {
    /// An empty cache; assumed pods whose binding finished lapse after
    /// `assumed_ttl` unless the informer confirms them (zero: never lapse).
    pub fn new(assumed_ttl: Duration) -> Self {
        Cache {
            nodes: HashMap::new(),
            pods: HashMap::new(),
            generation: 0,
            dirty: HashSet::new(),
            membership_changed: false,
            assumed_ttl,
        }
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Adds or updates a node.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let generation = self.next_generation();
        let name = node.metadata.name.clone();
        match self.nodes.get_mut(&name) {
            Some(info) => info.set_node(node, generation),
            None => {
                let mut info = NodeInfo::new(node, generation);
                // Pods seen before their node.
                for state in self.pods.values().filter(|s| s.node == name) {
                    info.add_pod(state.pod.clone(), generation);
                }
                self.nodes.insert(name.clone(), info);
                self.membership_changed = true;
            }
        }
        self.dirty.insert(name);
    }

    /// Removes a node (its pods stay known, for when it returns).
    pub fn remove_node(&mut self, name: &str) {
        if self.nodes.remove(name).is_some() {
            self.membership_changed = true;
        }
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: &str) {
        let generation = self.next_generation();
        if let Some(info) = self.nodes.get_mut(node) {
            info.add_pod(pod, generation);
            self.dirty.insert(node.to_owned());
        }
    }

    fn unplace(&mut self, uid: &str, node: &str) {
        let generation = self.next_generation();
        if let Some(info) = self.nodes.get_mut(node) {
            if info.remove_pod(uid, generation) {
                self.dirty.insert(node.to_owned());
            }
        }
    }

    /// Records a pod bound to a node (seen by the informer). Confirms an
    /// assumed pod; moves a pod that changed nodes.
    pub fn upsert_pod(&mut self, pod: Arc<Pod>) {
        let Some(node) = pod.spec.node_name.clone().filter(|n| !n.is_empty()) else {
            return;
        };
        let uid = pod.metadata.uid.clone();
        if let Some(old) = self.pods.remove(&uid) {
            self.unplace(&uid, &old.node);
        }
        let info = Arc::new(PodInfo::new(pod));
        self.place(info.clone(), &node);
        self.pods.insert(uid, PodState { pod: info, node, assumed: false, deadline: None });
    }

    /// Forgets a pod that was deleted or finished.
    pub fn remove_pod(&mut self, uid: &str) {
        if let Some(old) = self.pods.remove(uid) {
            self.unplace(uid, &old.node);
        }
    }

    /// Places a pod on a node before it is bound (at Reserve).
    pub fn assume_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        let uid = pod.uid().to_owned();
        if let Some(old) = self.pods.remove(&uid) {
            self.unplace(&uid, &old.node);
        }
        self.place(pod.clone(), node);
        self.pods
            .insert(uid, PodState { pod, node: node.to_owned(), assumed: true, deadline: None });
    }

    /// The binding of an assumed pod finished: start its expiry clock.
    pub fn finish_binding(&mut self, uid: &str) {
        let ttl = self.assumed_ttl;
        if let Some(state) = self.pods.get_mut(uid) {
            if state.assumed && !ttl.is_zero() {
                state.deadline = Some(Instant::now() + ttl);
            }
        }
    }

    /// Drops an assumed pod (its binding failed).
    pub fn forget_pod(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|s| s.assumed) {
            self.remove_pod(uid);
        }
    }

    /// The pod as last seen bound (not merely assumed), if it is.
    pub fn confirmed_pod(&self, uid: &str) -> Option<Arc<Pod>> {
        self.pods.get(uid).filter(|s| !s.assumed).map(|s| s.pod.pod.clone())
    }

    /// True if the pod is placed on a node here: assumed or seen bound.
    pub fn contains_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// True if the pod is assumed and not yet confirmed.
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|s| s.assumed)
    }

    /// Drops assumed pods whose deadline passed; returns how many.
    pub fn cleanup_expired(&mut self, now: Instant) -> usize {
        let expired: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, s)| s.assumed && s.deadline.is_some_and(|d| d <= now))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &expired {
            self.remove_pod(uid);
        }
        expired.len()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Brings `snapshot` up to date, copying only nodes that changed.
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        if self.membership_changed || snapshot.nodes.len() != self.nodes.len() {
            let mut names: Vec<&String> = self.nodes.keys().collect();
            names.sort();
            snapshot.nodes = names.iter().map(|n| Arc::new(self.nodes[*n].clone())).collect();
            snapshot.index = names.iter().enumerate().map(|(i, n)| ((*n).clone(), i)).collect();
            snapshot.pods = PodIndex::default();
            for (i, n) in snapshot.nodes.iter().enumerate() {
                snapshot.pods.index_node(i, n, true);
            }
            self.membership_changed = false;
            self.dirty.clear();
        } else {
            for name in self.dirty.drain() {
                if let (Some(info), Some(&i)) = (self.nodes.get(&name), snapshot.index.get(&name)) {
                    if info.generation != snapshot.nodes[i].generation {
                        let new = Arc::new(info.clone());
                        let old = std::mem::replace(&mut snapshot.nodes[i], new.clone());
                        snapshot.pods.index_node(i, &old, false);
                        snapshot.pods.index_node(i, &new, true);
                        if old.node.metadata.labels != new.node.metadata.labels {
                            snapshot.pods.invalidate_topology();
                        }
                    }
                }
            }
        }
        snapshot.generation = self.generation;
    }
}
