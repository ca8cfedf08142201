//! `DynamicObject`: an object of any kind, known only at run time — what the
//! manifest loader produces before it knows which Rust type to use.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::meta::ObjectMeta;
use crate::resource::{meta_field, Object};
use crate::{Error, Result};

/// An object of any kind: type fields, metadata, and the rest as JSON.
/// Use it with `Api::dynamic` for kinds without a Rust type, or turn it into
/// one with [`DynamicObject::try_parse`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicObject {
    /// `group/version`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data`, …).
    #[serde(flatten)]
    pub data: Map<String, Value>,
}

impl DynamicObject {
    /// Decodes into a typed object.
    ///
    /// Errors: [`Error::Invalid`] naming the field that does not fit `K`.
    pub fn try_parse<K: Object>(&self) -> Result<K> {
        let object = format!("{} {}", self.kind, self.metadata.name);
        let value = serde_json::to_value(self).map_err(|e| Error::Invalid {
            object: object.clone(),
            field: ".".into(),
            reason: e.to_string(),
        })?;
        serde_path_to_error::deserialize(value).map_err(|e| Error::Invalid {
            object,
            field: e.path().to_string(),
            reason: e.inner().to_string(),
        })
    }
}

impl Object for DynamicObject {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn api_version(&self) -> &str {
        &self.api_version
    }
    fn kind(&self) -> &str {
        &self.kind
    }
    fn set_type_meta(&mut self, api_version: &str, kind: &str) {
        api_version.clone_into(&mut self.api_version);
        kind.clone_into(&mut self.kind);
    }

    /// `metadata.name`, `metadata.namespace`, or any dotted path to a string,
    /// number or boolean in the object (`spec.nodeName`).
    fn field(&self, path: &str) -> Option<String> {
        if let Some(v) = meta_field(&self.metadata, path) {
            return Some(v);
        }
        let mut parts = path.split('.');
        let mut current = self.data.get(parts.next()?);
        for part in parts {
            current = current.and_then(|v| v.get(part));
        }
        Some(match current {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        })
    }
}
