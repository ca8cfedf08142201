//! NodeAffinity: Filter requires the pod's `nodeSelector` and required node
//! affinity terms (operators In, NotIn, Exists, DoesNotExist, Gt, Lt; fields
//! by `metadata.name`); Score sums the weights of the preferred terms a node
//! matches (weight 2 in the default profile).

use orch_core::kinds::pod::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use orch_core::Node;

use super::default_normalize;
use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::framework::{FilterPlugin, NodeScore, PreFilterPlugin, ScorePlugin};
use crate::status::Status;

/// True if the node's labels (or, for `fields`, its name) satisfy `req`.
fn requirement_holds(node: &Node, req: &NodeSelectorRequirement, fields: bool) -> bool {
    let value = if fields {
        (req.key == "metadata.name").then_some(node.metadata.name.as_str())
    } else {
        node.metadata.labels.get(&req.key).map(String::as_str)
    };
    let number = |s: &str| s.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| req.values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !req.values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(number), req.values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((value.and_then(number), req.values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}

/// True if the node satisfies every requirement of `term`. An empty term
/// matches no node, as Kubernetes.
pub fn term_matches(node: &Node, term: &NodeSelectorTerm) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions.iter().all(|r| requirement_holds(node, r, false))
        && term.match_fields.iter().all(|r| requirement_holds(node, r, true))
}

/// True if the node matches any term of `selector`.
pub fn selector_matches(node: &Node, selector: &NodeSelector) -> bool {
    selector.node_selector_terms.iter().any(|t| term_matches(node, t))
}

/// True if the node satisfies the pod's `nodeSelector` and required node
/// affinity (also used by PodTopologySpread to count eligible nodes).
pub fn pod_fits_node(pod: &PodInfo, node: &Node) -> bool {
    let spec = &pod.pod.spec;
    let labels_ok = spec.node_selector.iter().all(|(k, v)| node.metadata.labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.required.as_ref());
    labels_ok && required.is_none_or(|r| selector_matches(node, r))
}

/// The NodeAffinity plugin.
#[derive(Debug, Default)]
pub struct NodeAffinity;

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, _state: &mut CycleState, pod: &PodInfo, _snapshot: &Snapshot) -> Status {
        let spec = &pod.pod.spec;
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| n.required.as_ref());
        if spec.node_selector.is_empty() && required.is_none() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod_fits_node(pod, &node.node) {
            Status::success()
        } else {
            Status::unresolvable("node(s) didn't match Pod's node affinity/selector")
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let preferred = pod
            .pod
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .map(|n| &n.preferred);
        Ok(preferred
            .map(|terms| {
                terms
                    .iter()
                    .filter(|t| t.weight != 0 && term_matches(&node.node, &t.preference))
                    .map(|t| i64::from(t.weight))
                    .sum()
            })
            .unwrap_or(0))
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore]) -> Status {
        default_normalize(scores, false);
        Status::success()
    }
}
