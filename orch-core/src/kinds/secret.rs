//! Secret (core/v1): sensitive key/value data.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::byte_string::ByteString;
use crate::meta::ObjectMeta;
use crate::validation::{FieldErrors, IMMUTABLE, IMMUTABLE_WHEN_SET};

/// A Secret. As Kubernetes, `stringData` is write-only: on every write its
/// entries are merged into `data` (a key in both takes the `stringData`
/// value) and it is stored empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Secret")]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Secret`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Values (base64 in JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, ByteString>,
    /// Write-only plain-text values, merged into `data` on write.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// `Opaque` (default), `kubernetes.io/tls`, …
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub type_: Option<String>,
    /// If true, data cannot change after create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

crate::impl_resource!(Secret {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    namespaced: true,
    status_subresource: false,
    validate_update: validate_update,
    prepare_for_write: merge_string_data,
});

/// Moves `stringData` into `data`, as Kubernetes does on every write.
pub fn merge_string_data(secret: &mut Secret) {
    for (key, value) in std::mem::take(&mut secret.string_data) {
        secret.data.insert(key, ByteString(value.into_bytes()));
    }
}

/// An `immutable` Secret refuses changes to `data`, `type` and to
/// `immutable` itself, with Kubernetes' message.
pub fn validate_update(new: &Secret, old: &Secret, errors: &mut FieldErrors) {
    if new.type_.as_deref().unwrap_or("Opaque") != old.type_.as_deref().unwrap_or("Opaque") {
        errors.push("type", IMMUTABLE);
    }
    if old.immutable == Some(true) {
        if new.data != old.data {
            errors.push("data", IMMUTABLE_WHEN_SET);
        }
        if new.immutable != Some(true) {
            errors.push("immutable", IMMUTABLE_WHEN_SET);
        }
    }
}
