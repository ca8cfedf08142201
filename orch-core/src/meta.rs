//! Metadata shared by every kind (Kubernetes `meta/v1`): `TypeMeta`,
//! `ObjectMeta`, `OwnerReference`, `LabelSelector`.
//!
//! Field names are Kubernetes' JSON names. Strings, maps and lists that
//! Kubernetes makes optional are plain values here, empty when unset, and are
//! left out of the JSON when empty.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Time;

pub(crate) fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `apiVersion` and `kind`: what a manifest document says it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.TypeMeta")]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    /// `group/version`, or just `version` for the core group (`v1`).
    #[serde(default)]
    pub api_version: String,
    /// The kind, e.g. `Deployment`.
    #[serde(default)]
    pub kind: String,
}

/// Every object's metadata (Kubernetes `ObjectMeta`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The name, unique per kind and namespace; a DNS-1123 subdomain for most
    /// kinds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// If `name` is empty on create, the name is this prefix plus 5 random
    /// characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// The namespace of a namespaced object; empty for cluster-scoped kinds
    /// (and for "default" on create).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Unique ID for the object's lifetime, set on create.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The store's `mod_revision` of the object, as a decimal string; send it
    /// back unchanged for optimistic concurrency. Set by the Api, not stored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Incremented on every change of the desired state (everything but
    /// metadata and status); 1 after create.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: i64,
    /// Set on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// Set when deletion was requested while finalizers remained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// Seconds the object has to terminate gracefully once deleting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Labels: identifying key/value pairs that selectors match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations: non-identifying key/value data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The objects this one depends on; the garbage collector deletes it
    /// when they are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "uid"))]
    pub owner_references: Vec<OwnerReference>,
    /// Names of cleanups that must finish before the object is removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge"))]
    pub finalizers: Vec<String>,
    /// Which field manager owns which fields, for server-side apply; the
    /// API server writes it. An update that leaves it out (or empty) keeps
    /// it, as Kubernetes does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<ManagedFieldsEntry>,
}

/// A FieldsV1 set, kept as its JSON text: objects are decoded and encoded
/// far more often than their field sets are read (by the API server's
/// server-side apply), so it is not parsed into a tree each time.
#[derive(Clone, Debug)]
pub struct FieldsV1(Box<serde_json::value::RawValue>);

impl FieldsV1 {
    /// The set `value` (a JSON object such as `{"f:spec": {}}`).
    pub fn from_value(value: &serde_json::Value) -> Self {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
        FieldsV1(serde_json::value::RawValue::from_string(text).unwrap_or_else(|_| Self::empty()))
    }

    /// The set as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }

    /// The set's JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    fn empty() -> Box<serde_json::value::RawValue> {
        serde_json::value::to_raw_value(&serde_json::Map::new())
            .unwrap_or_else(|_| unreachable!("an empty map serializes"))
    }
}

impl Default for FieldsV1 {
    fn default() -> Self {
        FieldsV1(Self::empty())
    }
}

impl PartialEq for FieldsV1 {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for FieldsV1 {}

impl Serialize for FieldsV1 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FieldsV1 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(d).map(FieldsV1)
    }
}

impl JsonSchema for FieldsV1 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A set of fields: f:<name>, k:<item key>, v:<value>, . for an item itself.",
            "type": "object"
        })
    }
}

/// One manager's fields (Kubernetes `ManagedFieldsEntry`): `fieldsV1` is
/// the set of fields in Kubernetes' FieldsV1 form, e.g.
/// `{"f:spec": {"f:replicas": {}}}`, list items by key as
/// `"k:{\"name\":\"nginx\"}"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry")]
#[serde(rename_all = "camelCase")]
pub struct ManagedFieldsEntry {
    /// The manager: `kubectl`, a controller's name, the `fieldManager` of
    /// the request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manager: String,
    /// `Apply` (server-side apply) or `Update`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation: String,
    /// The apiVersion of the fields, e.g. `apps/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// When the entry last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// `FieldsV1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fields_type: String,
    /// The field set.
    #[serde(default, rename = "fieldsV1", skip_serializing_if = "Option::is_none")]
    pub fields_v1: Option<FieldsV1>,
    /// The subresource the fields were written through (`status`), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

impl ObjectMeta {
    /// Metadata with a name.
    pub fn named(name: impl Into<String>) -> Self {
        ObjectMeta { name: name.into(), ..Default::default() }
    }

    /// Sets the namespace.
    #[must_use]
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Adds a label.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The owner reference marked `controller: true`, if any.
    pub fn controller_owner(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|o| o.controller == Some(true))
    }

    /// True once deletion has been requested.
    pub fn is_deleting(&self) -> bool {
        self.deletion_timestamp.is_some()
    }
}

/// A reference from a dependent to its owner (Kubernetes `OwnerReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference")]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's apiVersion.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name (same namespace as the dependent).
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// True if the owner is the managing controller; at most one per object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// If true, foreground deletion of the owner waits for this dependent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// A label query in object form (Kubernetes `LabelSelector`), as in
/// `ReplicaSet.spec.selector`. `matchLabels` and `matchExpressions` are ANDed.
/// An empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement")]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` and `NotIn`; empty for the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The result of a list: the items and the store revision they were read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectList<K> {
    /// The objects, ordered by key (namespace, then name).
    pub items: Vec<K>,
    /// The revision of the list, as a resourceVersion: watch from here to
    /// see every later change.
    pub resource_version: String,
    /// A token for the next page, if `limit` cut the list short.
    pub continue_token: Option<String>,
}

#[cfg(test)]
mod managed_fields_tests {
    use super::*;

    #[test]
    fn field_sets_decode_from_text_from_values_and_through_the_unknown_field_check() {
        let v = serde_json::json!({"name": "p", "managedFields": [
            {"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}]});
        let from_text: ObjectMeta = serde_json::from_str(&v.to_string()).unwrap();
        let set = from_text.managed_fields[0].fields_v1.as_ref().unwrap();
        assert_eq!(set.to_value(), serde_json::json!({"f:spec": {"f:replicas": {}}}));
        let from_value: ObjectMeta = serde_path_to_error::deserialize(v.clone()).unwrap();
        assert_eq!(from_value, from_text);
        assert_eq!(serde_json::to_value(&from_value).unwrap(), v);
        let mut unknown = Vec::new();
        let mut record = |p: serde_ignored::Path<'_>| unknown.push(p.to_string());
        let de = serde_ignored::Deserializer::new(v, &mut record);
        let checked: ObjectMeta = serde_path_to_error::deserialize(de).unwrap();
        assert_eq!(checked, from_text);
        assert!(unknown.is_empty(), "{unknown:?}");
    }
}
