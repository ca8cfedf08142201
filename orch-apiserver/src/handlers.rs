//! The verbs on a resource path, as kube-apiserver answers them: get,
//! list, watch, create, update (PUT), patch (JSON, merge, strategic merge
//! and apply patches), delete and deletecollection, on the object or its
//! `status`; and the `scale`, `log`, `binding` and `eviction`
//! subresources.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, BoxStream, StreamExt};
use orch_core::api::{DeleteOutcome, ListParams, WatchParams};
use serde_json::{json, Value};

use crate::resources::{delete_params, ResourceOps, WireEvent};
use crate::routes::ResourcePath;
use crate::server::{json_body, list_json, namespace_of, Shared};
use crate::status::Status;
use crate::table::{self, IncludeObject};

/// How a request wants objects back.
struct Output {
    table: Option<IncludeObject>,
}

impl Output {
    fn of(headers: &HeaderMap, query: &BTreeMap<String, String>) -> Result<Output, Status> {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !table::wants_table(accept) {
            return Ok(Output { table: None });
        }
        let include = IncludeObject::from_query(query.get("includeObject").map(String::as_str))
            .map_err(Status::bad_request)?;
        Ok(Output { table: Some(include) })
    }

    /// One object, or a Table of it.
    fn object(&self, kind: &dyn ResourceOps, obj: Value, code: StatusCode) -> Response {
        let body = match self.table {
            Some(include) => {
                let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_owned();
                table::table(&kind.info().resource, &[obj], &rv, None, include, chrono::Utc::now())
            }
            None => obj,
        };
        (code, axum::Json(body)).into_response()
    }
}

/// A request on `path` of `kind`.
pub(crate) async fn resource(
    shared: &Arc<Shared>,
    kind: Arc<dyn ResourceOps>,
    path: &ResourcePath<'_>,
    method: &Method,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, Status> {
    let resource = kind.info().resource.clone();
    let namespace = namespace_of(&*kind, path)?;
    let mut store = shared.backend.clone();
    store.dry_run = dry_run(query, method, &body)?;
    let out = Output::of(headers, query)?;
    let validation = FieldValidation::of(query)?;
    let has = |sub: &str| kind.info().subresources.iter().any(|s| s.name == sub);
    let status = match (path.subresource, path.name) {
        (None, _) => false,
        (Some("status"), Some(_)) if resource.status_subresource => true,
        (Some("scale"), Some(name)) if has("scale") => {
            let scale =
                crate::scale::serve(store, &*kind, namespace, name, method, headers, &body).await?;
            return Ok(axum::Json(scale).into_response());
        }
        (Some("binding"), Some(name)) if has("binding") && method == Method::POST => {
            return crate::pod_subresources::bind(store, namespace, name, headers, &body).await;
        }
        (Some("eviction"), Some(name)) if has("eviction") && method == Method::POST => {
            return crate::pod_subresources::evict(store, namespace, name, headers, &body).await;
        }
        (Some("log"), Some(name)) if has("log") && method == Method::GET => {
            let pod = kind
                .get(store, namespace, name)
                .await
                .map_err(|e| Status::from_error(&e, &resource, name))?;
            let request = crate::logs::request(&pod, query)?;
            let Some(logs) = &shared.pod_logs else {
                return Err(Status {
                    code: 503,
                    reason: "ServiceUnavailable",
                    message: "this server has no source of pod logs".into(),
                    details: None,
                });
            };
            let chunks = logs.logs(&pod, &request).await?;
            return Ok(crate::logs::response(chunks));
        }
        (Some(_), _) => return Err(Status::path_not_found()),
    };
    let name = path.name.unwrap_or("");
    let fail = |e: orch_core::Error| Status::from_error(&e, &resource, name);
    match (method, path.name) {
        (&Method::GET, Some(name)) => {
            let obj = kind.get(store, namespace, name).await.map_err(fail)?;
            Ok(out.object(&*kind, obj, StatusCode::OK))
        }
        (&Method::GET, None)
            if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) =>
        {
            watch(store, kind, namespace, query, out, shared.stop.clone()).await
        }
        (&Method::GET, None) => {
            let params = list_params(query);
            let Some(include) = out.table else {
                let body = kind.list_json(store, namespace, &params).await.map_err(fail)?;
                return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
            };
            let (items, rv, cont) = kind.list(store, namespace, &params).await.map_err(fail)?;
            let now = chrono::Utc::now();
            let body = table::table(&resource, &items, &rv, cont.as_deref(), include, now);
            Ok(axum::Json(body).into_response())
        }
        (&Method::POST, None) => {
            let mut body = with_namespace(json_body(headers, &body)?, namespace)?;
            let name = body["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let warnings = validation
                .check(&*kind, &body, &name)
                .map_err(|e| Status::from_error(&e, &resource, &name))?;
            crate::patch::request::record_write(&*kind, query, headers, None, &mut body);
            let created = kind
                .create(store, namespace, body)
                .await
                .map_err(|e| Status::from_error(&e, &resource, &name))?;
            Ok(with_warnings(out.object(&*kind, created, StatusCode::CREATED), &warnings))
        }
        (&Method::PUT, Some(name)) => {
            let body = with_namespace(json_body(headers, &body)?, namespace)?;
            if body["metadata"]["name"].as_str() != Some(name) {
                return Err(Status::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    body["metadata"]["name"]
                )));
            }
            let warnings = validation.check(&*kind, &body, name).map_err(fail)?;
            let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
            let (rv, uid) =
                (text(&body["metadata"]["resourceVersion"]), text(&body["metadata"]["uid"]));
            // The stored object is replaced by the body (its resourceVersion
            // a precondition, its uid too), the write recorded in
            // managedFields.
            let replace = |current: &Value| {
                let stored = current["metadata"]["uid"].as_str().unwrap_or("");
                if let Some(uid) = uid.as_deref().filter(|u| *u != stored) {
                    return Err(orch_core::Error::Conflict {
                        object: name.to_owned(),
                        expected: format!("uid {uid}"),
                        actual: format!("uid {stored}"),
                    });
                }
                let mut new = body.clone();
                if !status {
                    crate::patch::request::record_write(
                        &*kind,
                        query,
                        headers,
                        Some(current),
                        &mut new,
                    );
                }
                Ok(new)
            };
            let replaced = kind
                .patch_with(store, namespace, name, rv.as_deref(), status, &replace)
                .await
                .map_err(fail)?;
            Ok(with_warnings(out.object(&*kind, replaced, StatusCode::OK), &warnings))
        }
        (&Method::PATCH, Some(name)) => {
            let (patched, code, warnings) = crate::patch::request::patch(
                store, &*kind, namespace, name, headers, &body, status, query, validation,
            )
            .await?;
            Ok(with_warnings(out.object(&*kind, patched, code), &warnings))
        }
        (&Method::DELETE, Some(name)) => {
            let params = delete_options(headers, &body, query)?;
            // 200 when the object is gone, 202 while it is being deleted
            // (finalizers, a grace period), as kube-apiserver.
            let (obj, code) =
                match kind.delete(store, namespace, name, &params).await.map_err(fail)? {
                    DeleteOutcome::Deleted(obj) => (obj, StatusCode::OK),
                    DeleteOutcome::Finalizing(obj) => (obj, StatusCode::ACCEPTED),
                };
            Ok(out.object(&*kind, obj, code))
        }
        (&Method::DELETE, None) => {
            let params = delete_options(headers, &body, query)?;
            let (items, rv, _) =
                kind.list(store.clone(), namespace, &list_params(query)).await.map_err(fail)?;
            let mut deleted = Vec::new();
            for item in items {
                let name = item["metadata"]["name"].as_str().unwrap_or("").to_owned();
                let ns = item["metadata"]["namespace"].as_str().filter(|n| !n.is_empty());
                match kind.delete(store.clone(), ns.or(namespace), &name, &params).await {
                    Ok(outcome) => deleted.push(outcome.into_object()),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(Status::from_error(&e, &resource, &name)),
                }
            }
            Ok(axum::Json(list_json(kind.info(), deleted, &rv, None)).into_response())
        }
        _ => Err(Status::method_not_allowed(method.as_str(), &resource.plural)),
    }
}

/// `fieldValidation`: what to do with fields of a body the kind does not
/// model (orch drops them on write). `Ignore`: nothing; `Warn` (the
/// default): a `Warning` header each; `Strict` (what kubectl sends unless
/// `--validate=false` or `warn`): a 400, as kube-apiserver's strict
/// decoding. A manifest written for Kubernetes with a field orch does not
/// model (a `securityContext`, say) is refused under `Strict`, since orch
/// would not honour it; `kubectl apply --validate=warn` writes it without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    /// From the query; a value other than the three is a 400.
    fn of(query: &BTreeMap<String, String>) -> Result<Self, Status> {
        match query.get("fieldValidation").map(String::as_str) {
            None | Some("" | "Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(Status::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// The warnings for `body`'s unknown fields, or under `Strict` an
    /// [`orch_core::Error::BadRequest`] naming them.
    pub(crate) fn check(
        self,
        kind: &dyn ResourceOps,
        body: &Value,
        name: &str,
    ) -> orch_core::Result<Vec<String>> {
        if self == FieldValidation::Ignore {
            return Ok(Vec::new());
        }
        let unknown = kind.unknown_fields(body);
        if self == FieldValidation::Strict && !unknown.is_empty() {
            let r = &kind.info().resource;
            let fields: Vec<String> =
                unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
            return Err(orch_core::Error::BadRequest {
                object: name.to_owned(),
                reason: format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {} \
                     (orch does not model these fields; --validate=warn writes the object without them)",
                    r.kind,
                    r.version,
                    r.kind,
                    fields.join(", ")
                ),
            });
        }
        Ok(unknown
            .into_iter()
            .map(|path| format!("unknown field \"{path}\" (not modelled by orch; dropped)"))
            .collect())
    }
}

/// Each warning as a `Warning: 299 - "…"` header (RFC 7234), which kubectl
/// prints as `Warning: …`.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let value = format!("299 - {:?}", w);
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

/// `dryRun`: `All` in the query (or, for a DELETE, in its DeleteOptions
/// body) makes the write a dry run; another value is a 400, as
/// kube-apiserver answers.
fn dry_run(
    query: &BTreeMap<String, String>,
    method: &Method,
    body: &Bytes,
) -> Result<bool, Status> {
    match query.get("dryRun").map(String::as_str) {
        None | Some("") => {}
        Some(value) => return dry_run_option(&json!({ "dryRun": [value] })),
    }
    if method == Method::DELETE && !body.is_empty() {
        let options: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        return dry_run_option(&options);
    }
    Ok(false)
}

/// A DeleteOptions' `dryRun` (`["All"]`, or none).
pub(crate) fn dry_run_option(options: &Value) -> Result<bool, Status> {
    match options["dryRun"].as_array().and_then(|values| values.first()) {
        None => Ok(false),
        Some(v) if v == "All" => Ok(true),
        Some(v) => Err(Status::bad_request(format!(
            "dryRun: Unsupported value: {v}: supported values: \"All\""
        ))),
    }
}

/// A DELETE's options: its `DeleteOptions` body (if any) and query.
fn delete_options(
    headers: &HeaderMap,
    body: &Bytes,
    query: &BTreeMap<String, String>,
) -> Result<orch_core::api::DeleteParams, Status> {
    let options = (!body.is_empty()).then(|| json_body(headers, body)).transpose()?;
    delete_params(options.as_ref(), query).map_err(Status::bad_request)
}

/// The path's namespace in the body: set where the body has none; a
/// different one is a 400, as kube-apiserver answers.
pub(crate) fn with_namespace(mut body: Value, namespace: Option<&str>) -> Result<Value, Status> {
    if !body.is_object() {
        return Err(Status::bad_request("the request body is not a JSON object"));
    }
    let Some(ns) = namespace else { return Ok(body) };
    let current = body["metadata"]["namespace"].as_str().unwrap_or("");
    if current.is_empty() {
        if !body["metadata"].is_object() {
            body["metadata"] = json!({});
        }
        body["metadata"]["namespace"] = json!(ns);
    } else if current != ns {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(body)
}

fn list_params(query: &BTreeMap<String, String>) -> ListParams {
    ListParams {
        label_selector: query.get("labelSelector").filter(|s| !s.is_empty()).cloned(),
        field_selector: query.get("fieldSelector").filter(|s| !s.is_empty()).cloned(),
        limit: query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0),
        continue_token: query.get("continue").filter(|s| !s.is_empty()).cloned(),
    }
}

/// `?watch=true`: one JSON event per line (`{"type":…,"object":…}`),
/// chunked, until `timeoutSeconds` or the client leaves. From
/// `resourceVersion` `""` or `"0"` it starts, as kube-apiserver, with an
/// `ADDED` event for every object there is; from a list's resourceVersion,
/// with the changes after it. A history compacted meanwhile ends the
/// stream with an `ERROR` event holding a 410 Status.
async fn watch(
    store: crate::resources::Backend,
    kind: Arc<dyn ResourceOps>,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
    out: Output,
    stop: tokio_util::sync::CancellationToken,
) -> Result<Response, Status> {
    let resource = kind.info().resource.clone();
    let fail = |e: orch_core::Error| Status::from_error(&e, &resource, "");
    let params = WatchParams {
        label_selector: query.get("labelSelector").filter(|s| !s.is_empty()).cloned(),
        field_selector: query.get("fieldSelector").filter(|s| !s.is_empty()).cloned(),
        bookmarks: query.get("allowWatchBookmarks").is_some_and(|b| b == "true"),
    };
    let requested = query.get("resourceVersion").map(String::as_str).unwrap_or("");
    let (initial, from): (Vec<WireEvent>, String) = match requested {
        "" | "0" => {
            let list = ListParams {
                label_selector: params.label_selector.clone(),
                field_selector: params.field_selector.clone(),
                ..Default::default()
            };
            let (items, rv, _) = kind.list(store.clone(), namespace, &list).await.map_err(fail)?;
            (items.into_iter().map(|o| ("ADDED", o)).collect(), rv)
        }
        rv => (Vec::new(), rv.to_owned()),
    };
    let events = kind.watch(store, namespace, &params, &from).await.map_err(fail)?;
    let events: BoxStream<'static, orch_core::Result<WireEvent>> =
        stream::iter(initial.into_iter().map(Ok)).chain(events).boxed();
    let timeout = query.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok());
    let events = match timeout {
        Some(s) => events.take_until(tokio::time::sleep(Duration::from_secs(s))).boxed(),
        None => events,
    };
    // The server's shutdown ends every watch, so that it can close.
    let events = events.take_until(stop.cancelled_owned()).boxed();
    let table = out.table;
    let lines = events
        .scan(false, move |ended, e| {
            if *ended {
                return futures::future::ready(None);
            }
            let line = match e {
                Ok((kind_of, obj)) => {
                    let obj = match table {
                        Some(include) => {
                            let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_owned();
                            table::table(&resource, &[obj], &rv, None, include, chrono::Utc::now())
                        }
                        None => obj,
                    };
                    json!({"type": kind_of, "object": obj})
                }
                Err(e) => {
                    *ended = true;
                    json!({"type": "ERROR", "object": Status::from_error(&e, &resource, "").to_json()})
                }
            };
            let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
            bytes.push(b'\n');
            futures::future::ready(Some(Ok::<_, std::io::Error>(Bytes::from(bytes))))
        })
        .boxed();
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| Status::internal("watch response").into_response()))
}
