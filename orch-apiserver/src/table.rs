//! Server-side Table output (a stand-in with the agreed API; the full
//! module is being written on its own branch).

use orch_core::ApiResource;
use serde_json::{json, Value};

/// Which objects a row carries (`includeObject`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// From the `includeObject` query parameter.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(format!("includeObject {other:?}")),
        }
    }
}

/// A `Table` of `objects`.
pub fn table(
    _resource: &ApiResource,
    objects: &[Value],
    resource_version: &str,
    _continue_token: Option<&str>,
    _include: IncludeObject,
    _now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| json!({"cells": [o["metadata"]["name"].clone()], "object": o.clone()}))
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "priority": 0}],
        "rows": rows})
}

/// True if an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}
