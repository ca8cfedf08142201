//! A PATCH request on an object: its Content-Type picks the patch type
//! ([`PatchType`]); the patch is applied to the object as stored, and
//! reapplied if a concurrent write wins; a `metadata.resourceVersion` in a
//! merge, strategic or apply patch is a precondition. An apply patch
//! (`kubectl apply --server-side`, [`super::apply`]) needs a
//! `fieldManager`, takes `force`, and creates the object when it is
//! missing (201). `fieldValidation` is checked on the patched object.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use orch_core::Time;
use serde_json::{json, Map, Value};

use super::apply::{self, Applier, ApplyError, Conflict};
use super::strategic::SchemaRef;
use super::{patched, PatchType};
use crate::handlers::{with_namespace, FieldValidation};
use crate::resources::{Backend, ResourceOps};
use crate::status::Status;

/// The patched (or, for an apply, created) object, its status code and
/// the unknown-field warnings.
///
/// Errors: 415 for a Content-Type the kind does not take; 400 for a body
/// that does not parse or apply; 409 for a stale resourceVersion or an
/// apply's conflicts (Kubernetes' `Apply failed with N conflicts`); 422
/// for an apply without a `fieldManager`, or a patched object that is
/// invalid.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn patch(
    store: Backend,
    kind: &dyn ResourceOps,
    namespace: Option<&str>,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
    status: bool,
    query: &BTreeMap<String, String>,
    validation: FieldValidation,
) -> Result<(Value, StatusCode, Vec<String>), Status> {
    let resource = &kind.info().resource;
    let fail = |e: orch_core::Error| Status::from_error(&e, resource, name);
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let ty = PatchType::of(&content_type)
        .filter(|t| *t != PatchType::Strategic || kind.schema().is_some())
        .ok_or_else(|| Status::unsupported_media_type(&content_type))?;
    let patch = ty.parse(body, name).map_err(fail)?;
    if ty != PatchType::Json && !patch.is_object() {
        return Err(Status::bad_request("the patch is not a JSON object"));
    }
    let manager = query.get("fieldManager").map(String::as_str).unwrap_or("");
    let default_manager = manager_of(query, headers);
    if ty == PatchType::Apply && manager.is_empty() {
        return Err(Status {
            code: 422,
            reason: "Invalid",
            message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: \
                      is required for apply patch"
                .into(),
            details: None,
        });
    }
    let now = Time::now().to_string();
    let applier = Applier {
        manager,
        force: query.get("force").is_some_and(|f| f == "true"),
        api_version: &resource.api_version,
        now: &now,
    };
    let updater = Applier { manager: &default_manager, ..applier };
    let empty = Map::new();
    let schema = schema_of(kind, &empty);
    let resource_version = match ty {
        PatchType::Json => None,
        _ => patch.pointer("/metadata/resourceVersion").and_then(Value::as_str),
    };
    let warnings = Mutex::new(Vec::new());
    let conflicts = Mutex::new(Vec::new());
    let apply = |current: &Value| {
        let value = match ty {
            PatchType::Apply => applied(Some(current), &patch, schema, applier, &conflicts, name)?,
            _ => {
                let mut value = patched(ty, current, &patch, kind.schema(), name)?;
                if !status {
                    apply::record_update(Some(current), &mut value, schema, updater);
                }
                value
            }
        };
        let found = validation.check(kind, &value, name)?;
        if let Ok(mut w) = warnings.lock() {
            *w = found;
        }
        Ok(value)
    };
    let result =
        kind.patch_with(store.clone(), namespace, name, resource_version, status, &apply).await;
    let take = || warnings.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default();
    if let Some(refusal) =
        conflicts.lock().ok().and_then(|c| conflict_status(&c, &resource.api_version))
    {
        return Err(refusal);
    }
    match result {
        Ok(obj) => Ok((obj, StatusCode::OK, take())),
        Err(e) if e.is_not_found() && ty == PatchType::Apply && !status => {
            let mut body = with_namespace(patch.clone(), namespace)?;
            match body["metadata"]["name"].as_str() {
                None | Some("") => body["metadata"]["name"] = json!(name),
                Some(n) if n != name => {
                    return Err(Status::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )))
                }
                Some(_) => {}
            }
            let body = applied(None, &body, schema, applier, &conflicts, name).map_err(fail)?;
            let found = validation.check(kind, &body, name).map_err(fail)?;
            let created = kind.create(store, namespace, body).await.map_err(fail)?;
            Ok((created, StatusCode::CREATED, found))
        }
        Err(e) => Err(fail(e)),
    }
}

/// The kind's schema (`empty` components when it has none).
fn schema_of<'a>(kind: &'a dyn ResourceOps, empty: &'a Map<String, Value>) -> SchemaRef<'a> {
    match kind.schema() {
        Some(s) => SchemaRef { schema: s.components.get(&s.name), components: &s.components },
        None => SchemaRef { schema: None, components: empty },
    }
}

/// The field manager of a write: `fieldManager`, else the client's
/// User-Agent up to its first `/` (`kubectl/v1.32.0 (linux/amd64) …` →
/// `kubectl`), as kube-apiserver defaults it.
pub(crate) fn manager_of(query: &BTreeMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    match agent.split('/').next().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => a.to_owned(),
        None => "unknown".to_owned(),
    }
}

/// Records a create (`before` `None`) or an update of `after` by the
/// request's field manager in its `managedFields` ([`apply::record_update`]).
pub(crate) fn record_write(
    kind: &dyn ResourceOps,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    before: Option<&Value>,
    after: &mut Value,
) {
    let empty = Map::new();
    let manager = manager_of(query, headers);
    let now = Time::now().to_string();
    let updater = Applier {
        manager: &manager,
        force: false,
        api_version: &kind.info().resource.api_version,
        now: &now,
    };
    apply::record_update(before, after, schema_of(kind, &empty), updater);
}

/// [`apply::apply`], its conflicts kept in `conflicts` (and a BadRequest
/// in their place, which the caller replaces with the 409).
fn applied(
    live: Option<&Value>,
    config: &Value,
    schema: SchemaRef<'_>,
    applier: Applier<'_>,
    conflicts: &Mutex<Vec<Conflict>>,
    name: &str,
) -> orch_core::Result<Value> {
    let bad = |reason: String| orch_core::Error::BadRequest { object: name.to_owned(), reason };
    match apply::apply(live, config, schema, applier) {
        Ok(v) => Ok(v),
        Err(ApplyError::Invalid(reason)) => Err(bad(reason)),
        Err(ApplyError::Conflicts(found)) => {
            let text = found.iter().map(|c| c.field.clone()).collect::<Vec<_>>().join(", ");
            if let Ok(mut c) = conflicts.lock() {
                *c = found;
            }
            Err(bad(format!("apply conflicts: {text}")))
        }
    }
}

/// kube-apiserver's 409 for an apply's conflicts: `Apply failed with 1
/// conflict: conflict with "kubectl" using apps/v1: .spec.replicas`, a
/// `FieldManagerConflict` cause per field.
fn conflict_status(conflicts: &[Conflict], api_version: &str) -> Option<Status> {
    if conflicts.is_empty() {
        return None;
    }
    let n = conflicts.len();
    let message = if n == 1 {
        let c = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {:?} using {api_version}: {}",
            c.manager, c.field
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|c| format!("- conflict with {:?} using {api_version}: {}", c.manager, c.field))
            .collect();
        format!("Apply failed with {n} conflicts:\n{}", lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({"reason": "FieldManagerConflict",
                   "message": format!("conflict with {:?} using {api_version}", c.manager),
                   "field": c.field})
        })
        .collect();
    Some(Status {
        code: 409,
        reason: "Conflict",
        message,
        details: Some(json!({ "causes": causes })),
    })
}
