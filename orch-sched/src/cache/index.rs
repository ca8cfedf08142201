//! Indexes the snapshot keeps up to date with its nodes, so that the

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use orch_core::selector::{LabelSelector, Requirement};
use parking_lot::Mutex;

use super::node_info::{NodeInfo, PodInfo};

/// The index key of a label in a namespace.
pub(crate) fn label_key(namespace: &str, key: &str, value: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + key.len() + value.len() + 2);
    k.push_str(namespace);
    k.push('\0');
    k.push_str(key);
    k.push('=');
    k.push_str(value);
    k
}

/// A `key=value` the selector requires, if any: the index lookup for it.
pub fn equality_requirement(selector: &LabelSelector) -> Option<(&str, &str)> {
    selector.requirements.iter().find_map(|r| match r {
        Requirement::Equals(k, v) => Some((k.as_str(), v.as_str())),
        Requirement::In(k, vs) if vs.len() == 1 => {
            vs.iter().next().map(|v| (k.as_str(), v.as_str()))
        }
        _ => None,
    })
}

/// An existing pod's required anti-affinity term, where it runs.
#[derive(Clone, Debug)]
pub struct AntiTermRef {
    /// Snapshot index of the node.
    pub node: usize,
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// Index into the pod's `required_anti_affinity`.
    pub term: usize,
}

/// The snapshot's indexes.
///
/// Indexes the snapshot keeps up to date with its nodes, so that the
/// inter-pod plugins find the pods a selector matches without scanning every
/// pod of the cluster:
///
/// * pods by label: `(namespace, key=value)` → node → number of pods;
/// * existing pods' required anti-affinity terms by one of their
///   `key=value` requirements (terms without one are kept aside and always
///   checked);
/// * the values each topology key takes across nodes.
#[derive(Debug, Default)]
pub struct PodIndex {
    by_label: HashMap<String, HashMap<usize, u32>>,
    anti_terms: HashMap<String, Vec<AntiTermRef>>,
    anti_unindexed: Vec<AntiTermRef>,
    anti_count: usize,
    preferred_count: usize,
    topology: Mutex<HashMap<String, Arc<HashSet<String>>>>,
}

impl Clone for PodIndex {
    fn clone(&self) -> Self {
        PodIndex {
            by_label: self.by_label.clone(),
            anti_terms: self.anti_terms.clone(),
            anti_unindexed: self.anti_unindexed.clone(),
            anti_count: self.anti_count,
            preferred_count: self.preferred_count,
            topology: Mutex::new(self.topology.lock().clone()),
        }
    }
}

impl PodIndex {
    /// Adds (or, with `add` false, removes) the pods of node `idx`.
    pub(crate) fn index_node(&mut self, idx: usize, node: &NodeInfo, add: bool) {
        for pod in &node.pods {
            let ns = &pod.pod.metadata.namespace;
            for (k, v) in &pod.pod.metadata.labels {
                let key = label_key(ns, k, v);
                if add {
                    *self.by_label.entry(key).or_default().entry(idx).or_default() += 1;
                } else if let Some(nodes) = self.by_label.get_mut(&key) {
                    if let Some(n) = nodes.get_mut(&idx) {
                        *n -= 1;
                        if *n == 0 {
                            nodes.remove(&idx);
                        }
                    }
                    if nodes.is_empty() {
                        self.by_label.remove(&key);
                    }
                }
            }
            let preferred =
                !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
            if preferred {
                if add {
                    self.preferred_count += 1;
                } else {
                    self.preferred_count -= 1;
                }
            }
            for (t, term) in pod.required_anti_affinity.iter().enumerate() {
                let r = AntiTermRef { node: idx, pod: pod.clone(), term: t };
                match equality_requirement(&term.selector) {
                    Some((k, v)) => {
                        for ns in &term.namespaces {
                            let key = label_key(ns, k, v);
                            if add {
                                self.anti_terms.entry(key).or_default().push(r.clone());
                            } else if let Some(list) = self.anti_terms.get_mut(&key) {
                                list.retain(|x| {
                                    !(x.node == idx && x.term == t && Arc::ptr_eq(&x.pod, &r.pod))
                                });
                                if list.is_empty() {
                                    self.anti_terms.remove(&key);
                                }
                            }
                        }
                    }
                    None if add => self.anti_unindexed.push(r),
                    None => self
                        .anti_unindexed
                        .retain(|x| !(x.node == idx && x.term == t && Arc::ptr_eq(&x.pod, &r.pod))),
                }
                if add {
                    self.anti_count += 1;
                } else {
                    self.anti_count -= 1;
                }
            }
        }
    }

    /// Forgets the cached topology values (a node's labels changed).
    pub(crate) fn invalidate_topology(&self) {
        self.topology.lock().clear();
    }

    /// Nodes (snapshot indexes) with pods labelled `key=value` in `namespace`.
    pub fn nodes_with_label(&self, namespace: &str, key: &str, value: &str) -> Vec<usize> {
        self.by_label
            .get(&label_key(namespace, key, value))
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Existing required anti-affinity terms that may select a pod with
    /// these labels in `namespace` (verify each with `AffinityTerm::matches`).
    pub fn anti_terms_for<'a>(
        &'a self,
        namespace: &'a str,
        labels: &'a std::collections::BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a AntiTermRef> + 'a {
        labels
            .iter()
            .filter_map(move |(k, v)| self.anti_terms.get(&label_key(namespace, k, v)))
            .flatten()
            .chain(self.anti_unindexed.iter())
    }

    /// True if any existing pod has a required anti-affinity term.
    pub fn has_anti_terms(&self) -> bool {
        self.anti_count > 0
    }

    /// True if any existing pod has a preferred (anti-)affinity term.
    pub fn has_preferred_terms(&self) -> bool {
        self.preferred_count > 0
    }

    /// The values `key` takes across `nodes` (cached until node labels change).
    pub fn topology_values(&self, key: &str, nodes: &[Arc<NodeInfo>]) -> Arc<HashSet<String>> {
        if let Some(v) = self.topology.lock().get(key) {
            return v.clone();
        }
        let values: Arc<HashSet<String>> =
            Arc::new(nodes.iter().filter_map(|n| n.label(key).map(str::to_owned)).collect());
        self.topology.lock().insert(key.to_owned(), values.clone());
        values
    }
}
