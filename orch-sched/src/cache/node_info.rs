//! What the scheduler knows of a Pod ([`PodInfo`]) and of a Node with the
//! Pods on it ([`NodeInfo`]), precomputed once so that Filter and Score run
//! on numbers, not on strings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use orch_core::kinds::pod::{Pod, PodAffinityTerm};
use orch_core::selector::LabelSelector;
use orch_core::{Node, Quantity};

/// Resources in the units kube-scheduler uses: millicores, bytes, a pod count,
/// and extended resources by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Pods (for a node's allocatable; 1 per pod for requests).
    pub pods: i64,
    /// Extended resources (`example.com/gpu`, `hugepages-2Mi`, …), in whole units.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a resource map (`cpu`, `memory`, `pods`, …). Unparseable
    /// quantities count as 0 (the Api refuses them on write).
    pub fn from_map(map: &BTreeMap<String, Quantity>) -> Self {
        let mut r = Resources::default();
        for (name, q) in map {
            match name.as_str() {
                "cpu" => r.milli_cpu = q.as_millis().unwrap_or(0),
                "memory" => r.memory = q.as_bytes().unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage = q.as_bytes().unwrap_or(0),
                "pods" => r.pods = q.as_bytes().unwrap_or(0),
                other => {
                    r.scalar.insert(other.to_owned(), q.as_bytes().unwrap_or(0));
                }
            }
        }
        r
    }

    /// Adds `other` to this.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Subtracts `other` from this.
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

/// kube-scheduler's requests for scoring pods that request nothing: 100
/// millicores and 200 MiB, so they do not all pile on one node.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// See [`DEFAULT_MILLI_CPU_REQUEST`].
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A host port a pod asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The host IP, `0.0.0.0` for all.
    pub ip: String,
    /// The port.
    pub port: i32,
}

/// A pod affinity term with its selector parsed.
#[derive(Clone, Debug)]
pub struct AffinityTerm {
    /// Which pods.
    pub selector: LabelSelector,
    /// In which namespaces (the pod's own if none were given).
    pub namespaces: Vec<String>,
    /// The node label that defines a domain.
    pub topology_key: String,
    /// The weight, for preferred terms.
    pub weight: i64,
}

impl AffinityTerm {
    fn parse(term: &PodAffinityTerm, own_namespace: &str, weight: i64) -> Self {
        let selector = term
            .label_selector
            .as_ref()
            .and_then(|s| LabelSelector::from_object(s).ok())
            // A term without a selector matches no pod, as Kubernetes.
            .unwrap_or_else(|| "orch.io/no-selector-matches-nothing".parse().unwrap_or_default());
        let namespaces = if term.namespaces.is_empty() {
            vec![own_namespace.to_owned()]
        } else {
            term.namespaces.clone()
        };
        AffinityTerm { selector, namespaces, topology_key: term.topology_key.clone(), weight }
    }

    /// True if `pod` is one of the pods this term selects.
    pub fn matches(&self, pod: &Pod) -> bool {
        self.namespaces.contains(&pod.metadata.namespace)
            && self.selector.matches(&pod.metadata.labels)
    }
}

/// A pod as the scheduler sees it.
#[derive(Debug)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// Resource requests: the larger of the containers' sum and the largest
    /// init container, plus one pod.
    pub requests: Resources,
    /// CPU and memory requests with kube-scheduler's defaults for zero requests.
    pub non_zero_milli_cpu: i64,
    /// See `non_zero_milli_cpu`.
    pub non_zero_memory: i64,
    /// Host ports wanted.
    pub host_ports: Vec<HostPort>,
    /// Required pod affinity terms.
    pub required_affinity: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity: Vec<AffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity: Vec<AffinityTerm>,
    /// `spec.priority`, 0 if unset.
    pub priority: i32,
}

impl PodInfo {
    /// Precomputes what the plugins need.
    pub fn new(pod: Arc<Pod>) -> Self {
        let mut sum = Resources::default();
        let (mut cpu_nz, mut mem_nz) = (0, 0);
        for c in &pod.spec.containers {
            let r =
                c.resources.as_ref().map(|r| Resources::from_map(&r.requests)).unwrap_or_default();
            cpu_nz += if r.milli_cpu == 0 { DEFAULT_MILLI_CPU_REQUEST } else { r.milli_cpu };
            mem_nz += if r.memory == 0 { DEFAULT_MEMORY_REQUEST } else { r.memory };
            sum.add(&r);
        }
        for c in &pod.spec.init_containers {
            let r =
                c.resources.as_ref().map(|r| Resources::from_map(&r.requests)).unwrap_or_default();
            sum.max_with(&r);
        }
        sum.pods = 1;
        let host_ports = pod
            .spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter())
            .filter_map(|p| {
                let port = p.host_port.filter(|h| *h > 0)?;
                Some(HostPort {
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    ip: p
                        .host_ip
                        .clone()
                        .filter(|ip| !ip.is_empty())
                        .unwrap_or_else(|| "0.0.0.0".into()),
                    port,
                })
            })
            .collect();
        let ns = pod.metadata.namespace.clone();
        let affinity = pod.spec.affinity.as_ref();
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |p: Option<&orch_core::kinds::pod::PodAffinity>| -> Vec<AffinityTerm> {
            p.map(|p| p.required.iter().map(|t| AffinityTerm::parse(t, &ns, 1)).collect())
                .unwrap_or_default()
        };
        let preferred = |p: Option<&orch_core::kinds::pod::PodAffinity>| -> Vec<AffinityTerm> {
            p.map(|p| {
                p.preferred
                    .iter()
                    .map(|w| AffinityTerm::parse(&w.pod_affinity_term, &ns, i64::from(w.weight)))
                    .collect()
            })
            .unwrap_or_default()
        };
        PodInfo {
            requests: sum,
            non_zero_milli_cpu: cpu_nz,
            non_zero_memory: mem_nz,
            host_ports,
            required_affinity: required(pa),
            required_anti_affinity: required(paa),
            preferred_affinity: preferred(pa),
            preferred_anti_affinity: preferred(paa),
            priority: pod.spec.priority.unwrap_or(0),
            pod,
        }
    }

    /// The pod's uid.
    pub fn uid(&self) -> &str {
        &self.pod.metadata.uid
    }

    /// True if the pod has any pod affinity or anti-affinity term.
    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }
}

/// A node with the pods on it (bound or assumed) and their sums.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The node.
    pub node: Arc<Node>,
    /// Allocatable resources (capacity if allocatable is not reported).
    pub allocatable: Resources,
    /// Sum of the pods' requests.
    pub requested: Resources,
    /// Sum of the pods' non-zero CPU requests (millicores), for scoring.
    pub non_zero_milli_cpu: i64,
    /// Sum of the pods' non-zero memory requests (bytes), for scoring.
    pub non_zero_memory: i64,
    /// The pods.
    pub pods: Vec<Arc<PodInfo>>,
    /// The pods that have pod affinity or anti-affinity terms.
    pub pods_with_affinity: Vec<Arc<PodInfo>>,
    /// Host ports in use.
    pub used_ports: HashSet<HostPort>,
    /// Image names on the node, with their sizes in bytes.
    pub image_sizes: HashMap<String, i64>,
    /// Bumped on every change; the snapshot copies nodes whose generation moved.
    pub generation: u64,
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Arc<Node>, generation: u64) -> Self {
        let mut info = NodeInfo {
            node: node.clone(),
            allocatable: Resources::default(),
            requested: Resources::default(),
            non_zero_milli_cpu: 0,
            non_zero_memory: 0,
            pods: Vec::new(),
            pods_with_affinity: Vec::new(),
            used_ports: HashSet::new(),
            image_sizes: HashMap::new(),
            generation,
        };
        info.set_node(node, generation);
        info
    }

    /// Replaces the node object (pods stay).
    pub fn set_node(&mut self, node: Arc<Node>, generation: u64) {
        let status = node.status.clone().unwrap_or_default();
        let map =
            if status.allocatable.is_empty() { &status.capacity } else { &status.allocatable };
        self.allocatable = Resources::from_map(map);
        self.image_sizes = status
            .images
            .iter()
            .flat_map(|i| i.names.iter().map(move |n| (n.clone(), i.size_bytes)))
            .collect();
        self.node = node;
        self.generation = generation;
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.node.metadata.name
    }

    /// Adds a pod.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>, generation: u64) {
        self.requested.add(&pod.requests);
        self.non_zero_milli_cpu += pod.non_zero_milli_cpu;
        self.non_zero_memory += pod.non_zero_memory;
        for p in &pod.host_ports {
            self.used_ports.insert(p.clone());
        }
        if pod.has_affinity() {
            self.pods_with_affinity.push(pod.clone());
        }
        self.pods.push(pod);
        self.generation = generation;
    }

    /// Removes a pod by uid; true if it was here.
    pub fn remove_pod(&mut self, uid: &str, generation: u64) -> bool {
        let Some(pos) = self.pods.iter().position(|p| p.uid() == uid) else {
            return false;
        };
        let pod = self.pods.swap_remove(pos);
        self.pods_with_affinity.retain(|p| p.uid() != uid);
        self.requested.sub(&pod.requests);
        self.non_zero_milli_cpu -= pod.non_zero_milli_cpu;
        self.non_zero_memory -= pod.non_zero_memory;
        for p in &pod.host_ports {
            self.used_ports.remove(p);
        }
        self.generation = generation;
        true
    }

    /// The node's value for a label, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.node.metadata.labels.get(key).map(String::as_str)
    }
}
