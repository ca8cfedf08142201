//! A Pod's scheduling constraints: node and pod (anti-)affinity,
//! tolerations and topology spread constraints (core/v1).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kinds::node::Taint;
use crate::meta::LabelSelector;

/// Scheduling constraints (core/v1 `Affinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Affinity")]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    /// Constraints on node labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// Co-locate with matching pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<PodAffinity>,
    /// Keep away from matching pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity: Option<PodAffinity>,
}

/// Node affinity (core/v1 `NodeAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeAffinity")]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    /// Hard constraint: the node must match one of the terms.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "requiredDuringSchedulingIgnoredDuringExecution"
    )]
    pub required: Option<NodeSelector>,
    /// Soft preferences, weighted 1–100.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "preferredDuringSchedulingIgnoredDuringExecution"
    )]
    pub preferred: Vec<PreferredSchedulingTerm>,
}

/// A disjunction of node selector terms (core/v1 `NodeSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeSelector")]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    /// The terms, ORed.
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

/// A conjunction of requirements on a node (core/v1 `NodeSelectorTerm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeSelectorTerm")]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    /// Requirements on node labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on node fields (`metadata.name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// One requirement on a node (core/v1 `NodeSelectorRequirement`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeSelectorRequirement")]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    /// Label key or field name.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` or `Lt`.
    pub operator: String,
    /// Operands; one integer for `Gt` and `Lt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A weighted node preference (core/v1 `PreferredSchedulingTerm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.PreferredSchedulingTerm")]
pub struct PreferredSchedulingTerm {
    /// Weight, 1–100.
    pub weight: i32,
    /// The preferred node properties.
    pub preference: NodeSelectorTerm,
}

/// Pod affinity or anti-affinity (core/v1 `PodAffinity`, `PodAntiAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.PodAffinity")]
#[serde(rename_all = "camelCase")]
pub struct PodAffinity {
    /// Hard terms, all of which must hold.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "requiredDuringSchedulingIgnoredDuringExecution"
    )]
    pub required: Vec<PodAffinityTerm>,
    /// Soft terms, weighted 1–100.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "preferredDuringSchedulingIgnoredDuringExecution"
    )]
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

/// Pods to (not) share a topology domain with (core/v1 `PodAffinityTerm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.PodAffinityTerm")]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    /// Which pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Their namespaces; default the Pod's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// The node label that defines a domain, e.g. `topology.kubernetes.io/zone`.
    pub topology_key: String,
}

/// A weighted pod affinity term (core/v1 `WeightedPodAffinityTerm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.WeightedPodAffinityTerm")]
#[serde(rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    /// Weight, 1–100.
    pub weight: i32,
    /// The term.
    pub pod_affinity_term: PodAffinityTerm,
}

/// Tolerates a taint (core/v1 `Toleration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Toleration")]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// Taint key; empty with `Exists` tolerates everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` (default) or `Exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Taint value for `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// For `NoExecute`: seconds the Pod stays bound after the taint appears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Whether this toleration tolerates `taint`, as Kubernetes'
    /// `Toleration.ToleratesTaint`: the effect matches (or is empty), the key
    /// matches (or is empty, with `Exists`), and with `Equal` (the default)
    /// the values are equal. An unknown operator tolerates nothing.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if let Some(effect) = self.effect.as_deref().filter(|e| !e.is_empty()) {
            if effect != taint.effect {
                return false;
            }
        }
        let key = self.key.as_deref().unwrap_or("");
        if !key.is_empty() && key != taint.key {
            return false;
        }
        match self.operator.as_deref().unwrap_or("Equal") {
            "Exists" => true,
            "Equal" => {
                !key.is_empty()
                    && self.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
            _ => false,
        }
    }
}

/// Spread across topology domains (core/v1 `TopologySpreadConstraint`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.TopologySpreadConstraint")]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    /// Largest allowed difference in matching pods between two domains.
    pub max_skew: i32,
    /// The node label that defines a domain.
    pub topology_key: String,
    /// `DoNotSchedule` or `ScheduleAnyway`.
    pub when_unsatisfiable: String,
    /// Which pods count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Minimum number of eligible domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_domains: Option<i32>,
    /// Label keys whose values, taken from the incoming Pod, narrow the selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_label_keys: Vec<String>,
    /// `Honor` (default) or `Ignore` node affinity when counting domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity_policy: Option<String>,
    /// `Honor` or `Ignore` (default) node taints when counting domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_taints_policy: Option<String>,
}
