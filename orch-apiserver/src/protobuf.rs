//! Kubernetes' protobuf request bodies (`application/vnd.kubernetes.protobuf`),
//! which kubectl 1.32's typed clients send for `create namespace` and
//! `auth can-i`: the `k8s\0` magic, then a `runtime.Unknown` envelope
//! (`typeMeta`, `raw`) around the object's protobuf (the `k8s-pb` crate's
//! generated types). The object becomes the JSON the rest of the server
//! reads. Kinds not read yet get a 415 that names them; answers are JSON,
//! which kubectl accepts.

use prost::Message;
use serde_json::{json, Map, Value};

use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;

use crate::status::Status;

/// The protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes before every protobuf-encoded object.
const MAGIC: &[u8] = b"k8s\0";

/// True if `content_type` is Kubernetes' protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|m| m.trim() == PROTOBUF)
}

fn bad(message: String) -> Status {
    Status::bad_request(format!("the protobuf body is not a Kubernetes object: {message}"))
}

/// The JSON of a protobuf-encoded object.
///
/// Errors: 400 for bytes that are not the `k8s\0` + `runtime.Unknown`
/// encoding of an object; 415 for a kind this server does not read from
/// protobuf yet.
pub fn decode(body: &[u8]) -> Result<Value, Status> {
    let raw = body.strip_prefix(MAGIC).ok_or_else(|| bad("no k8s\\0 magic".into()))?;
    let unknown = Unknown::decode(raw).map_err(|e| bad(e.to_string()))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let bytes = unknown.raw.unwrap_or_default();
    let object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => {
            let ns = k8s_pb::api::core::v1::Namespace::decode(bytes.as_slice())
                .map_err(|e| bad(e.to_string()))?;
            let finalizers = ns.spec.map(|s| s.finalizers).unwrap_or_default();
            let mut v = json!({"metadata": meta(ns.metadata.unwrap_or_default())});
            if !finalizers.is_empty() {
                v["spec"] = json!({"finalizers": finalizers});
            }
            v
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            use k8s_pb::api::authorization::v1::SelfSubjectAccessReview;
            let review = SelfSubjectAccessReview::decode(bytes.as_slice())
                .map_err(|e| bad(e.to_string()))?;
            let spec = review.spec.unwrap_or_default();
            let mut s = Map::new();
            if let Some(r) = spec.resource_attributes {
                s.insert(
                    "resourceAttributes".into(),
                    json!({
                        "namespace": r.namespace.unwrap_or_default(),
                        "verb": r.verb.unwrap_or_default(),
                        "group": r.group.unwrap_or_default(),
                        "version": r.version.unwrap_or_default(),
                        "resource": r.resource.unwrap_or_default(),
                        "subresource": r.subresource.unwrap_or_default(),
                        "name": r.name.unwrap_or_default(),
                    }),
                );
            }
            if let Some(n) = spec.non_resource_attributes {
                s.insert(
                    "nonResourceAttributes".into(),
                    json!({"path": n.path.unwrap_or_default(), "verb": n.verb.unwrap_or_default()}),
                );
            }
            json!({"metadata": meta(review.metadata.unwrap_or_default()), "spec": s})
        }
        _ => {
            return Err(Status {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!(
                    "protobuf bodies of {api_version} {kind} are not read yet; send JSON \
                     (application/json)"
                ),
                details: None,
            })
        }
    };
    let mut object = object;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

/// The JSON of the metadata a client may set on create.
fn meta(m: ObjectMeta) -> Value {
    let mut v = Map::new();
    let mut put = |k: &str, s: Option<String>| {
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            v.insert(k.into(), Value::String(s));
        }
    };
    put("name", m.name);
    put("generateName", m.generate_name);
    put("namespace", m.namespace);
    put("resourceVersion", m.resource_version);
    put("uid", m.uid);
    if !m.labels.is_empty() {
        v.insert("labels".into(), json!(m.labels));
    }
    if !m.annotations.is_empty() {
        v.insert("annotations".into(), json!(m.annotations));
    }
    if !m.finalizers.is_empty() {
        v.insert("finalizers".into(), json!(m.finalizers));
    }
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(unknown.encode_to_vec());
        out
    }

    #[test]
    fn a_namespace_and_an_access_review_decode_as_kubectl_sends_them() {
        let ns = k8s_pb::api::core::v1::Namespace {
            metadata: Some(ObjectMeta { name: Some("x".into()), ..Default::default() }),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Namespace", ns.encode_to_vec())).unwrap();
        assert_eq!(v, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));

        use k8s_pb::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: Some(SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some("default".into()),
                    verb: Some("create".into()),
                    resource: Some("pods".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = decode(&envelope(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            review.encode_to_vec(),
        ))
        .unwrap();
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "create");
        assert_eq!(v["spec"]["resourceAttributes"]["resource"], "pods");

        assert_eq!(decode(b"{}").unwrap_err().code, 400);
        let other = decode(&envelope("apps/v1", "Deployment", Vec::new())).unwrap_err();
        assert_eq!((other.code, other.reason), (415, "UnsupportedMediaType"));
        assert!(other.message.contains("apps/v1 Deployment"), "{}", other.message);
    }
}
