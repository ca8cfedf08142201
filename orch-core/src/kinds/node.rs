//! Node (core/v1): a machine that runs pods, registered by its node agent.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::quantity::Quantity;
use crate::time::Time;
use crate::validation::{label_key, quantities, FieldErrors};

/// A Node: where pods run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Node")]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Node`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata; Nodes are cluster-scoped.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: NodeSpec,
    /// Observed state, reported by the node agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
}

fn node_field(node: &Node, path: &str) -> Option<String> {
    match path {
        "spec.unschedulable" => Some(node.spec.unschedulable.unwrap_or(false).to_string()),
        _ => None,
    }
}

crate::impl_resource!(Node {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    namespaced: false,
    status_subresource: true,
    fields: node_field,
    validate: validate,
});

/// The Node rules beyond metadata; run by the Api on create and update.
pub fn validate(obj: &Node, errors: &mut FieldErrors) {
    for (i, t) in obj.spec.taints.iter().enumerate() {
        if let Err(e) = label_key(&t.key) {
            errors.push(format!("spec.taints[{i}].key"), e);
        }
        if !matches!(t.effect.as_str(), "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errors.push(
                format!("spec.taints[{i}].effect"),
                "must be NoSchedule, PreferNoSchedule or NoExecute",
            );
        }
    }
    if let Some(status) = &obj.status {
        quantities(&status.capacity, "status.capacity", errors);
        quantities(&status.allocatable, "status.allocatable", errors);
    }
}

/// core/v1 `NodeSpec`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeSpec")]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// Cordoned: no new pods are scheduled here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unschedulable: Option<bool>,
    /// Taints that repel pods that do not tolerate them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// The pod IP range of this node.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "podCIDR")]
    pub pod_cidr: Option<String>,
    /// The machine's ID at its provider.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "providerID")]
    pub provider_id: Option<String>,
}

/// A taint (core/v1 `Taint`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Taint")]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
    /// When a `NoExecute` taint was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

/// core/v1 `NodeStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeStatus")]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Total resources: `cpu`, `memory`, `pods`, …
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    /// Resources available to pods (capacity less reservations).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: BTreeMap<String, Quantity>,
    /// `Ready`, `MemoryPressure`, `DiskPressure`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "type"))]
    pub conditions: Vec<NodeCondition>,
    /// `InternalIP`, `Hostname`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "type"))]
    pub addresses: Vec<NodeAddress>,
    /// Versions of what runs the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
    /// Images present on the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ContainerImage>,
}

/// core/v1 `NodeCondition`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeCondition")]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// `Ready`, `MemoryPressure`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Last time the node agent reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// Last time `status` changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// core/v1 `NodeAddress`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeAddress")]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The address.
    pub address: String,
}

/// core/v1 `NodeSystemInfo`, the fields orch reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.NodeSystemInfo")]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    /// The node agent's version.
    #[serde(default)]
    pub kubelet_version: String,
    /// `<runtime>://<version>`.
    #[serde(default)]
    pub container_runtime_version: String,
    /// `linux`, …
    #[serde(default)]
    pub operating_system: String,
    /// `amd64`, `arm64`, …
    #[serde(default)]
    pub architecture: String,
}

/// core/v1 `ContainerImage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ContainerImage")]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    /// Names and digests of the image.
    #[serde(default)]
    pub names: Vec<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size_bytes: i64,
}
