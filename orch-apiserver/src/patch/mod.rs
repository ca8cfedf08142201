//! PATCH bodies, by their `Content-Type`, as kube-apiserver takes them:
//! JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge
//! patch (Kubernetes' own, driven by the kind's schema; what client-side
//! `kubectl apply` sends) and apply patches (`kubectl apply --server-side`:
//! the whole desired object, JSON or YAML).
//!
//! ```
//! use orch_apiserver::patch::{patched, PatchType};
//! use serde_json::json;
//!
//! let ty = PatchType::of("application/merge-patch+json").unwrap();
//! let current = json!({"metadata": {"name": "web", "labels": {"a": "1"}}});
//! let out = patched(ty, &current, &json!({"metadata": {"labels": {"a": null, "b": "2"}}}), None, "web").unwrap();
//! assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
//! ```

pub mod apply;
pub(crate) mod request;
pub mod strategic;

use orch_core::{Error, Result};
use serde_json::Value;

use crate::openapi::KindSchema;

/// What a PATCH body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`: a list of operations.
    Json,
    /// `application/merge-patch+json`: objects merge, `null` deletes, lists
    /// replace.
    Merge,
    /// `application/strategic-merge-patch+json`: as merge, but lists with a
    /// patch merge key merge by it, with `$patch`, `$setElementOrder`,
    /// `$retainKeys` and `$deleteFromPrimitiveList` directives.
    Strategic,
    /// `application/apply-patch+yaml` (or `+json`, `+cbor` is not taken):
    /// the desired object; created if missing.
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` (parameters such as `charset`
    /// ignored), or `None` for one the server does not take (415).
    pub fn of(content_type: &str) -> Option<PatchType> {
        match content_type.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }

    /// The body as JSON: YAML (a superset of JSON) for apply patches, JSON
    /// for the others.
    ///
    /// Errors: [`Error::BadRequest`] for a body that does not parse.
    pub fn parse(self, body: &[u8], object: &str) -> Result<Value> {
        let bad = |e: String| Error::BadRequest { object: object.to_owned(), reason: e };
        match self {
            PatchType::Apply => yaml_serde::from_slice(body)
                .map_err(|e| bad(format!("the apply patch is not YAML or JSON: {e}"))),
            _ => {
                serde_json::from_slice(body).map_err(|e| bad(format!("the patch is not JSON: {e}")))
            }
        }
    }
}

/// `current` with `patch` of type `ty` applied; `schema` drives strategic
/// merge patch (without one it is refused, as kube-apiserver refuses it for
/// custom resources). An apply patch is merged here as a strategic merge
/// patch of the configuration, without field ownership: the API server
/// applies with ownership and conflicts through [`apply::apply`].
///
/// Errors: [`Error::BadRequest`] naming `object` for a JSON patch that
/// does not apply (a failed `test`, a missing path) or a strategic merge
/// patch whose directives do not fit the object.
pub fn patched(
    ty: PatchType,
    current: &Value,
    patch: &Value,
    schema: Option<&KindSchema>,
    object: &str,
) -> Result<Value> {
    let bad = |reason: String| Error::BadRequest { object: object.to_owned(), reason };
    match (ty, schema) {
        (PatchType::Json, _) => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| bad(format!("not a JSON patch: {e}")))?;
            let mut value = current.clone();
            json_patch::patch(&mut value, &ops).map_err(|e| bad(e.to_string()))?;
            Ok(value)
        }
        (PatchType::Strategic | PatchType::Apply, Some(s)) => {
            let schema = strategic::SchemaRef {
                schema: s.components.get(&s.name),
                components: &s.components,
            };
            strategic::apply(current, patch, schema).map_err(|e| bad(e.to_string()))
        }
        (PatchType::Strategic, None) => {
            Err(bad("strategic merge patch is not supported for this kind: use a JSON merge patch"
                .into()))
        }
        (PatchType::Merge, _) | (PatchType::Apply, None) => {
            let mut value = current.clone();
            json_patch::merge(&mut value, patch);
            Ok(value)
        }
    }
}
