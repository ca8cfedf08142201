//! ConfigMap (core/v1): configuration as key/value data.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::byte_string::ByteString;
use crate::meta::ObjectMeta;
use crate::validation::{FieldErrors, IMMUTABLE_WHEN_SET};

/// A ConfigMap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ConfigMap")]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `ConfigMap`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// UTF-8 values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Binary values (base64 in JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, ByteString>,
    /// If true, data cannot change after create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

crate::impl_resource!(ConfigMap {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    namespaced: true,
    status_subresource: false,
    validate_update: validate_update,
});

/// An `immutable` ConfigMap refuses changes to `data`, `binaryData` and to
/// `immutable` itself, with Kubernetes' message.
pub fn validate_update(new: &ConfigMap, old: &ConfigMap, errors: &mut FieldErrors) {
    if old.immutable == Some(true) {
        if new.data != old.data {
            errors.push("data", IMMUTABLE_WHEN_SET);
        }
        if new.binary_data != old.binary_data {
            errors.push("binaryData", IMMUTABLE_WHEN_SET);
        }
        if new.immutable != Some(true) {
            errors.push("immutable", IMMUTABLE_WHEN_SET);
        }
    }
}
