//! Event (core/v1): a report of something that happened to an object.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::time::{MicroTime, Time};

/// An Event. Repeats of the same event raise `count` and `lastTimestamp`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Event")]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Event`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The object it is about.
    #[serde(default)]
    pub involved_object: ObjectReference,
    /// Short CamelCase reason, e.g. `Scheduled`, `BackOff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The component that reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EventSource>,
    /// First occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    /// Latest occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<Time>,
    /// Occurrences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// `Normal` or `Warning`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub type_: Option<String>,
    /// When it was first observed, precisely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<MicroTime>,
    /// What was done, e.g. `Binding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The reporting controller, e.g. `default-scheduler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_component: Option<String>,
    /// The reporting instance, e.g. a node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}

fn event_field(event: &Event, path: &str) -> Option<String> {
    let o = &event.involved_object;
    match path {
        "involvedObject.kind" => Some(o.kind.clone()),
        "involvedObject.name" => Some(o.name.clone()),
        "involvedObject.namespace" => Some(o.namespace.clone()),
        "involvedObject.uid" => Some(o.uid.clone()),
        "reason" => Some(event.reason.clone().unwrap_or_default()),
        "type" => Some(event.type_.clone().unwrap_or_default()),
        _ => None,
    }
}

crate::impl_resource!(Event {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    namespaced: true,
    status_subresource: false,
    fields: event_field,
});

/// A reference to an object (core/v1 `ObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ObjectReference")]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// apiVersion of the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Namespace of the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name of the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// uid of the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// resourceVersion the event refers to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// A part of the object, e.g. `spec.containers{web}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

/// core/v1 `EventSource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.EventSource")]
pub struct EventSource {
    /// The component, e.g. `kubelet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The node it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}
