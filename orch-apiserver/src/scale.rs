//! The `scale` subresource of Deployments and ReplicaSets, as
//! kube-apiserver serves it: an `autoscaling/v1` `Scale` (`spec.replicas`,
//! `status.replicas`, `status.selector` as a selector string) read from the
//! object; GET, PUT and merge PATCH (what `kubectl scale` sends) change
//! only the object's `spec.replicas`.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method};
use serde_json::{json, Value};

use crate::resources::ResourceOps;
use crate::server::json_body;
use crate::status::Status;

/// The `Scale` of an object's JSON.
pub fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let selector =
        serde_json::from_value::<orch_core::meta::LabelSelector>(obj["spec"]["selector"].clone())
            .ok()
            .and_then(|s| orch_core::selector::LabelSelector::from_object(&s).ok())
            .map(|s| s.to_string())
            .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}

/// A request on `…/{name}/scale`.
pub(crate) async fn serve(
    store: crate::resources::Backend,
    kind: &dyn ResourceOps,
    namespace: Option<&str>,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Status> {
    let resource = &kind.info().resource;
    let fail = |e: orch_core::Error| Status::from_error(&e, resource, name);
    let current = kind.get(store.clone(), namespace, name).await.map_err(fail)?;
    let wanted = match *method {
        Method::GET => return Ok(scale_of(&current)),
        Method::PUT => json_body(headers, body)?,
        Method::PATCH => {
            let content_type =
                headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !content_type.starts_with("application/merge-patch+json") {
                return Err(Status::unsupported_media_type(content_type));
            }
            let mut scale = scale_of(&current);
            json_patch::merge(&mut scale, &json_body(headers, body)?);
            scale
        }
        _ => return Err(Status::method_not_allowed(method.as_str(), "scale")),
    };
    let replicas = wanted["spec"]["replicas"].as_i64().ok_or_else(|| Status {
        code: 422,
        ..Status::bad_request("Scale.spec.replicas: Required value: an integer")
    })?;
    if replicas < 0 {
        return Err(Status {
            code: 422,
            reason: "Invalid",
            message: format!(
                "{} {name:?} is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0",
                "Scale"
            ),
            details: None,
        });
    }
    let mut patch = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = wanted["metadata"]["resourceVersion"].as_str().filter(|rv| !rv.is_empty()) {
        if *method == Method::PUT {
            patch["metadata"] = json!({"resourceVersion": rv});
        }
    }
    let updated = kind.merge_patch(store, namespace, name, &patch, false).await.map_err(fail)?;
    Ok(scale_of(&updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_reads_replicas_and_the_selector_string() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "5"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2}});
        let s = scale_of(&d);
        assert_eq!(s["kind"], "Scale");
        assert_eq!(s["apiVersion"], "autoscaling/v1");
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web");
        assert_eq!(s["metadata"]["resourceVersion"], "5");
    }
}
