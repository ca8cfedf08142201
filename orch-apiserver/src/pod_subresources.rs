//! The two write-only subresources of a Pod: `POST pods/{name}/binding`
//! (a `v1 Binding`: what a scheduler in another process sends to put a pod
//! on a node, as kube-scheduler does) and `POST pods/{name}/eviction` (a
//! `policy/v1 Eviction`: what `kubectl drain` sends — the pod is deleted
//! with the Eviction's `deleteOptions`). Both answer a `Status` of
//! `Success` with code 201, as kube-apiserver.
//!
//! No PodDisruptionBudget is consulted yet: orch has none (an eviction is
//! a graceful delete), so an eviction is never refused with a 429.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orch_core::api::Preconditions;
use orch_core::{Api, Pod, Resource};
use serde_json::{json, Value};

use crate::resources::{delete_params, Backend};
use crate::server::json_body;
use crate::status::Status;

fn pods(backend: Backend, namespace: Option<&str>) -> Result<Api<Pod>, Status> {
    let namespace = namespace.ok_or_else(Status::path_not_found)?;
    Ok(backend.api(Some(namespace)))
}

/// The body's `metadata.name`, which must be the URL's (or empty).
fn check_name(body: &Value, name: &str, kind: &str) -> Result<(), Status> {
    match body["metadata"]["name"].as_str() {
        None | Some("") => Ok(()),
        Some(n) if n == name => Ok(()),
        Some(n) => Err(Status::bad_request(format!(
            "name in URL does not match name in {kind} object: {name:?} ≠ {n:?}"
        ))),
    }
}

fn created() -> Response {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201,
    });
    (StatusCode::CREATED, axum::Json(status)).into_response()
}

/// `POST pods/{name}/binding`: binds the pod to `target.name` (a Node),
/// with the Binding's `metadata.uid` and `metadata.resourceVersion` as
/// preconditions.
///
/// Errors: 400 for a body that is not a Binding to a Node; 404 for a
/// missing pod; 409 for a pod already bound, or not the one the
/// preconditions name.
pub async fn bind(
    backend: Backend,
    namespace: Option<&str>,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Status> {
    let binding = json_body(headers, body)?;
    check_name(&binding, name, "Binding")?;
    let target = &binding["target"];
    let node = target["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| {
        Status::bad_request("a Binding needs target.name, the node to bind the pod to")
    })?;
    if target["kind"].as_str().is_some_and(|k| !k.is_empty() && k != "Node") {
        return Err(Status::bad_request(format!(
            "a Binding's target must be a Node, not {}",
            target["kind"]
        )));
    }
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let preconditions = Preconditions {
        uid: text(&binding["metadata"]["uid"]),
        resource_version: text(&binding["metadata"]["resourceVersion"]),
    };
    pods(backend, namespace)?
        .bind(name, node, &preconditions)
        .await
        .map_err(|e| Status::from_error(&e, &Pod::api_resource(), name))?;
    Ok(created())
}

/// `POST pods/{name}/eviction`: deletes the pod gracefully with the
/// Eviction's `deleteOptions` (grace period, preconditions).
///
/// Errors: 400 for a body that is not an Eviction; 404 for a missing pod;
/// 409 when a precondition does not hold.
pub async fn evict(
    backend: Backend,
    namespace: Option<&str>,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Status> {
    let eviction = json_body(headers, body)?;
    check_name(&eviction, name, "Eviction")?;
    let options = eviction.get("deleteOptions").filter(|o| !o.is_null());
    let mut backend = backend;
    if let Some(o) = options {
        backend.dry_run |= crate::handlers::dry_run_option(o)?;
    }
    let params = delete_params(options, &Default::default()).map_err(Status::bad_request)?;
    pods(backend, namespace)?
        .delete(name, &params)
        .await
        .map_err(|e| Status::from_error(&e, &Pod::api_resource(), name))?;
    Ok(created())
}
