//! PodTopologySpread: spreads matching pods across topology domains.
//! `DoNotSchedule` constraints filter (a node whose domain would exceed
//! `maxSkew` over the least-loaded domain is rejected; `minDomains` counts
//! missing domains as empty); `ScheduleAnyway` constraints score (fewer
//! matching pods in the node's domain scores higher). Weight 2 in the
//! default profile. Node affinity is honoured and taints ignored when
//! counting domains, as kube-scheduler's defaults.

use std::collections::HashMap;

use orch_core::kinds::pod::TopologySpreadConstraint;
use orch_core::selector::{LabelSelector, Requirement};

use super::node_affinity::pod_fits_node;
use super::taint_toleration::tolerates_taint;
use crate::cache::{equality_requirement, NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::framework::{
    FilterPlugin, NodeScore, PreFilterPlugin, PreScorePlugin, ScorePlugin, MAX_NODE_SCORE,
};
use crate::status::Status;

const FILTER_KEY: &str = "PodTopologySpread/filter";
const SCORE_KEY: &str = "PodTopologySpread/score";

struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: LabelSelector,
    min_domains: usize,
    honor_affinity: bool,
    honor_taints: bool,
    self_match: i64,
}

fn constraints(pod: &PodInfo, hard: bool) -> Vec<Constraint> {
    let labels = &pod.pod.metadata.labels;
    pod.pod
        .spec
        .topology_spread_constraints
        .iter()
        .filter(|c: &&TopologySpreadConstraint| (c.when_unsatisfiable == "DoNotSchedule") == hard)
        .map(|c| {
            let mut selector = c
                .label_selector
                .as_ref()
                .and_then(|s| LabelSelector::from_object(s).ok())
                .unwrap_or_else(|| LabelSelector {
                    requirements: vec![Requirement::In("orch.io/none".into(), Default::default())],
                });
            for key in &c.match_label_keys {
                if let Some(v) = labels.get(key) {
                    selector.requirements.push(Requirement::Equals(key.clone(), v.clone()));
                }
            }
            let self_match = i64::from(selector.matches(labels));
            Constraint {
                max_skew: i64::from(c.max_skew.max(1)),
                topology_key: c.topology_key.clone(),
                selector,
                min_domains: c.min_domains.unwrap_or(1).max(1) as usize,
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                self_match,
            }
        })
        .collect()
}

/// Matching pods per domain, for each constraint.
struct Counts {
    constraints: Vec<Constraint>,
    per_domain: Vec<HashMap<String, i64>>,
    min: Vec<i64>,
}

fn matching_on(node: &NodeInfo, ns: &str, c: &Constraint) -> i64 {
    node.pods
        .iter()
        .filter(|p| {
            p.pod.metadata.namespace == ns
                && !p.pod.metadata.is_deleting()
                && c.selector.matches(&p.pod.metadata.labels)
        })
        .count() as i64
}

fn add(domains: &mut HashMap<String, i64>, domain: &str, n: i64) {
    match domains.get_mut(domain) {
        Some(c) => *c += n,
        None => {
            domains.insert(domain.to_owned(), n);
        }
    }
}

fn count(pod: &PodInfo, snapshot: &Snapshot, constraints: Vec<Constraint>) -> Counts {
    let ns = pod.pod.metadata.namespace.as_str();
    let nodes = snapshot.nodes();
    let node_constrained = {
        let spec = &pod.pod.spec;
        !spec.node_selector.is_empty()
            || spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .is_some_and(|n| n.required.is_some())
    };
    let mut per_domain: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
    for (i, c) in constraints.iter().enumerate() {
        let every_node_eligible = !(c.honor_taints || (c.honor_affinity && node_constrained));
        let indexed = every_node_eligible.then(|| equality_requirement(&c.selector)).flatten();
        if let Some((k, v)) = indexed {
            // Every node with the key is eligible: the domains are the key's
            // values, and only nodes holding pods with the label can count.
            for d in snapshot.pods().topology_values(&c.topology_key, nodes).iter() {
                per_domain[i].insert(d.clone(), 0);
            }
            for idx in snapshot.pods().nodes_with_label(ns, k, v) {
                let node = &nodes[idx];
                if let Some(domain) = node.label(&c.topology_key) {
                    add(&mut per_domain[i], domain, matching_on(node, ns, c));
                }
            }
            continue;
        }
        for node in nodes {
            let Some(domain) = node.label(&c.topology_key) else { continue };
            if c.honor_affinity && !pod_fits_node(pod, &node.node) {
                continue;
            }
            if c.honor_taints
                && node.node.spec.taints.iter().any(|t| {
                    (t.effect == "NoSchedule" || t.effect == "NoExecute")
                        && !tolerates_taint(&pod.pod.spec.tolerations, t)
                })
            {
                continue;
            }
            let n = if node.pods.is_empty() { 0 } else { matching_on(node, ns, c) };
            add(&mut per_domain[i], domain, n);
        }
    }
    let min = per_domain
        .iter()
        .zip(&constraints)
        .map(
            |(d, c)| {
                if d.len() < c.min_domains {
                    0
                } else {
                    d.values().copied().min().unwrap_or(0)
                }
            },
        )
        .collect();
    Counts { constraints, per_domain, min }
}

/// The PodTopologySpread plugin.
#[derive(Debug, Default)]
pub struct PodTopologySpread;

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let hard = constraints(pod, true);
        if hard.is_empty() {
            return Status::skip();
        }
        state.write(FILTER_KEY, count(pod, snapshot, hard));
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(counts) = state.read::<Counts>(FILTER_KEY) else {
            return Status::success();
        };
        for (i, c) in counts.constraints.iter().enumerate() {
            let Some(domain) = node.label(&c.topology_key) else {
                return Status::unresolvable(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                );
            };
            let here = counts.per_domain[i].get(domain).copied().unwrap_or(0);
            if here + c.self_match - counts.min[i] > c.max_skew {
                return Status::unschedulable(
                    "node(s) didn't match pod topology spread constraints",
                );
            }
        }
        Status::success()
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        let soft = constraints(pod, false);
        if soft.is_empty() {
            return Status::skip();
        }
        state.write(SCORE_KEY, count(pod, snapshot, soft));
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(counts) = state.read::<Counts>(SCORE_KEY) else {
            return Ok(0);
        };
        let mut total = 0;
        for (i, c) in counts.constraints.iter().enumerate() {
            if let Some(domain) = node.label(&c.topology_key) {
                total += counts.per_domain[i].get(domain).copied().unwrap_or(0) + c.max_skew - 1;
            }
        }
        Ok(total)
    }

    /// Fewer matching pods is better: the least-loaded domain scores 100.
    fn normalize(&self, state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore]) -> Status {
        if state.read::<Counts>(SCORE_KEY).is_none() {
            return Status::success();
        }
        let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
        let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
        for s in scores.iter_mut() {
            s.score = if max == min {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max - s.score) / (max - min)
            };
        }
        Status::success()
    }
}
