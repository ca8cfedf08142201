//! A pod spec's scheduling constraints from protobuf: node and pod
//! (anti-)affinity, tolerations, topology spread constraints.

use k8s_pb::api::core::v1 as pb;
use serde_json::{json, Value};

use super::objects::{label_selector, unread, IsSet, Obj};
use super::pod::{all, Result};
use crate::status::Status;

fn requirement(r: pb::NodeSelectorRequirement) -> Value {
    json!({"key": r.key.unwrap_or_default(), "operator": r.operator.unwrap_or_default(), "values": r.values})
}

fn term(t: pb::NodeSelectorTerm) -> Value {
    let pb::NodeSelectorTerm { match_expressions, match_fields } = t;
    Obj::default()
        .put(
            "matchExpressions",
            Value::Array(match_expressions.into_iter().map(requirement).collect()),
        )
        .put("matchFields", Value::Array(match_fields.into_iter().map(requirement).collect()))
        .done()
}

fn pod_affinity_term(t: pb::PodAffinityTerm) -> Result<Value> {
    let pb::PodAffinityTerm {
        label_selector: selector,
        namespaces,
        topology_key,
        namespace_selector,
        match_label_keys,
        mismatch_label_keys,
    } = t;
    unread(
        "PodAffinityTerm",
        &[
            ("matchLabelKeys", match_label_keys.is_set()),
            ("mismatchLabelKeys", mismatch_label_keys.is_set()),
        ],
    )?;
    Ok(Obj::default()
        .put("labelSelector", selector.map(label_selector).unwrap_or(Value::Null))
        .put("namespaces", json!(namespaces))
        .put("namespaceSelector", namespace_selector.map(label_selector).unwrap_or(Value::Null))
        .put("topologyKey", json!(topology_key.unwrap_or_default()))
        .done())
}

fn weighted(w: pb::WeightedPodAffinityTerm) -> Result<Value> {
    let term = pod_affinity_term(w.pod_affinity_term.unwrap_or_default())?;
    Ok(json!({"weight": w.weight.unwrap_or_default(), "podAffinityTerm": term}))
}

pub(super) fn affinity_of(a: pb::Affinity) -> Result<Value> {
    let pb::Affinity { node_affinity, pod_affinity, pod_anti_affinity } = a;
    let node = node_affinity.map(|n| {
        let required = n.required_during_scheduling_ignored_during_execution.map(|s| {
            json!({"nodeSelectorTerms": s.node_selector_terms.into_iter().map(term).collect::<Vec<_>>()})
        });
        let preferred: Vec<Value> = n
            .preferred_during_scheduling_ignored_during_execution
            .into_iter()
            .map(|p| json!({"weight": p.weight.unwrap_or_default(), "preference": term(p.preference.unwrap_or_default())}))
            .collect();
        Obj::default()
            .put("requiredDuringSchedulingIgnoredDuringExecution", json!(required))
            .put("preferredDuringSchedulingIgnoredDuringExecution", Value::Array(preferred))
            .done()
    });
    let pods = |required: Vec<pb::PodAffinityTerm>, preferred: Vec<pb::WeightedPodAffinityTerm>| {
        Ok::<_, Status>(
            Obj::default()
                .put(
                    "requiredDuringSchedulingIgnoredDuringExecution",
                    all(required, pod_affinity_term)?,
                )
                .put("preferredDuringSchedulingIgnoredDuringExecution", all(preferred, weighted)?)
                .done(),
        )
    };
    let affinity = match pod_affinity {
        Some(p) => pods(
            p.required_during_scheduling_ignored_during_execution,
            p.preferred_during_scheduling_ignored_during_execution,
        )?,
        None => Value::Null,
    };
    let anti = match pod_anti_affinity {
        Some(p) => pods(
            p.required_during_scheduling_ignored_during_execution,
            p.preferred_during_scheduling_ignored_during_execution,
        )?,
        None => Value::Null,
    };
    Ok(Obj::default()
        .put("nodeAffinity", json!(node))
        .put("podAffinity", affinity)
        .put("podAntiAffinity", anti)
        .done())
}

pub(super) fn toleration(t: pb::Toleration) -> Value {
    let pb::Toleration { key, operator, value, effect, toleration_seconds } = t;
    Obj::default()
        .put("key", json!(key))
        .put("operator", json!(operator))
        .put("value", json!(value))
        .put("effect", json!(effect))
        .put("tolerationSeconds", json!(toleration_seconds))
        .done()
}

pub(super) fn spread(c: pb::TopologySpreadConstraint) -> Value {
    let pb::TopologySpreadConstraint {
        max_skew,
        topology_key,
        when_unsatisfiable,
        label_selector: selector,
        min_domains,
        node_affinity_policy,
        node_taints_policy,
        match_label_keys,
    } = c;
    Obj::default()
        .put("maxSkew", json!(max_skew.unwrap_or_default()))
        .put("topologyKey", json!(topology_key.unwrap_or_default()))
        .put("whenUnsatisfiable", json!(when_unsatisfiable.unwrap_or_default()))
        .put("labelSelector", selector.map(label_selector).unwrap_or(Value::Null))
        .put("minDomains", json!(min_domains))
        .put("nodeAffinityPolicy", json!(node_affinity_policy))
        .put("nodeTaintsPolicy", json!(node_taints_policy))
        .put("matchLabelKeys", json!(match_label_keys))
        .done()
}
