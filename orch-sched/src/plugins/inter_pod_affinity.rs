//! InterPodAffinity: required pod affinity and anti-affinity (the pod's own
//! terms, and existing pods' anti-affinity terms that select the pod) filter
//! nodes by topology domain; preferred terms (both ways) score them. Weight 2
//! in the default profile.
//!
//! As Kubernetes: a required affinity term that no existing pod matches is
//! satisfied anywhere if the pod matches its own term (the first pod of a
//! group can go anywhere).

use std::collections::{HashMap, HashSet};

use super::default_normalize_min_max;
use crate::cache::{equality_requirement, AffinityTerm, NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::framework::{FilterPlugin, NodeScore, PreFilterPlugin, PreScorePlugin, ScorePlugin};
use crate::status::Status;

const FILTER_KEY: &str = "InterPodAffinity/filter";
const SCORE_KEY: &str = "InterPodAffinity/score";

type Domain = (String, String);

/// Topology domains by key: key → values.
#[derive(Default)]
struct Domains(HashMap<String, HashSet<String>>);

impl Domains {
    fn insert(&mut self, (key, value): Domain) {
        self.0.entry(key).or_default().insert(value);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if the node lies in one of the domains.
    fn contains_node(&self, node: &NodeInfo) -> bool {
        self.0.iter().any(|(k, values)| node.label(k).is_some_and(|v| values.contains(v)))
    }
}

struct Required {
    /// Domains where an existing pod's anti-affinity term selects the pod.
    existing_anti: Domains,
    /// Domains holding pods the pod's own anti-affinity terms select.
    own_anti: Domains,
    /// For each of the pod's affinity terms, the domains holding pods it selects.
    own_affinity: Vec<Domains>,
    /// No existing pod matches any affinity term, and the pod matches them all.
    first_of_group: bool,
}

fn domain(node: &NodeInfo, term: &AffinityTerm) -> Option<Domain> {
    node.label(&term.topology_key).map(|v| (term.topology_key.clone(), v.to_owned()))
}

/// The InterPodAffinity plugin.
#[derive(Debug, Default)]
pub struct InterPodAffinity;

/// Adds the domain of every node where `term` selects an existing pod
/// (other than `pod` itself), using the label index when the term requires a
/// `key=value`.
fn domains_selected(term: &AffinityTerm, pod: &PodInfo, snapshot: &Snapshot, out: &mut Domains) {
    let nodes = snapshot.nodes();
    let selects =
        |node: &NodeInfo| node.pods.iter().any(|p| p.uid() != pod.uid() && term.matches(&p.pod));
    match equality_requirement(&term.selector) {
        Some((k, v)) => {
            for ns in &term.namespaces {
                for idx in snapshot.pods().nodes_with_label(ns, k, v) {
                    if selects(&nodes[idx]) {
                        if let Some(d) = domain(&nodes[idx], term) {
                            out.insert(d);
                        }
                    }
                }
            }
        }
        None => {
            for node in nodes {
                if selects(node) {
                    if let Some(d) = domain(node, term) {
                        out.insert(d);
                    }
                }
            }
        }
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !own_terms && !snapshot.pods().has_anti_terms() {
            return Status::skip();
        }
        let mut r = Required {
            existing_anti: Domains::default(),
            own_anti: Domains::default(),
            own_affinity: Vec::with_capacity(pod.required_affinity.len()),
            first_of_group: false,
        };
        let meta = &pod.pod.metadata;
        for t in snapshot.pods().anti_terms_for(&meta.namespace, &meta.labels) {
            let term = &t.pod.required_anti_affinity[t.term];
            if t.pod.uid() != pod.uid() && term.matches(&pod.pod) {
                if let Some(d) = domain(&snapshot.nodes()[t.node], term) {
                    r.existing_anti.insert(d);
                }
            }
        }
        for term in &pod.required_anti_affinity {
            domains_selected(term, pod, snapshot, &mut r.own_anti);
        }
        for term in &pod.required_affinity {
            let mut d = Domains::default();
            domains_selected(term, pod, snapshot, &mut d);
            r.own_affinity.push(d);
        }
        r.first_of_group = !pod.required_affinity.is_empty()
            && r.own_affinity.iter().all(Domains::is_empty)
            && pod.required_affinity.iter().all(|t| t.matches(&pod.pod));
        state.write(FILTER_KEY, r);
        Status::success()
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(r) = state.read::<Required>(FILTER_KEY) else {
            return Status::success();
        };
        if !r.existing_anti.is_empty() && r.existing_anti.contains_node(node) {
            return Status::unschedulable(
                "node(s) didn't satisfy existing pods anti-affinity rules",
            );
        }
        if !r.own_anti.is_empty() && r.own_anti.contains_node(node) {
            return Status::unschedulable("node(s) didn't match pod anti-affinity rules");
        }
        if !r.first_of_group {
            for (i, term) in pod.required_affinity.iter().enumerate() {
                let ok = node.label(&term.topology_key).is_some_and(|v| {
                    r.own_affinity[i].0.get(&term.topology_key).is_some_and(|vs| vs.contains(v))
                });
                if !ok {
                    return Status::unschedulable("node(s) didn't match pod affinity rules");
                }
            }
        }
        Status::success()
    }
}

/// Score per domain from preferred terms, both ways.
struct Preferred {
    by_domain: HashMap<Domain, i64>,
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        let own = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        let mut by_domain: HashMap<Domain, i64> = HashMap::new();
        let mut add = |node: &NodeInfo, term: &AffinityTerm, sign: i64| {
            if let Some(d) = domain(node, term) {
                *by_domain.entry(d).or_default() += sign * term.weight;
            }
        };
        for node in snapshot.nodes() {
            if own {
                for existing in &node.pods {
                    for t in &pod.preferred_affinity {
                        if t.matches(&existing.pod) {
                            add(node, t, 1);
                        }
                    }
                    for t in &pod.preferred_anti_affinity {
                        if t.matches(&existing.pod) {
                            add(node, t, -1);
                        }
                    }
                }
            }
            for existing in &node.pods_with_affinity {
                for t in &existing.preferred_affinity {
                    if t.matches(&pod.pod) {
                        add(node, t, 1);
                    }
                }
                for t in &existing.preferred_anti_affinity {
                    if t.matches(&pod.pod) {
                        add(node, t, -1);
                    }
                }
            }
        }
        if by_domain.is_empty() {
            return Status::skip();
        }
        state.write(SCORE_KEY, Preferred { by_domain });
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(p) = state.read::<Preferred>(SCORE_KEY) else {
            return Ok(0);
        };
        Ok(p.by_domain
            .iter()
            .filter(|((k, v), _)| node.label(k) == Some(v.as_str()))
            .map(|(_, s)| *s)
            .sum())
    }

    fn normalize(&self, state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore]) -> Status {
        if state.read::<Preferred>(SCORE_KEY).is_some() {
            default_normalize_min_max(scores);
        }
        Status::success()
    }
}
