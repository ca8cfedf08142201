//! Kubernetes' protobuf request bodies (`application/vnd.kubernetes.protobuf`),
//! which kubectl 1.32's typed clients send for `create namespace`,
//! `create configmap`, `create secret`, `create deployment`, `create role`
//! (and `clusterrole`, `rolebinding`, `clusterrolebinding`), `drain` and
//! `auth can-i`: the `k8s\0` magic, then a `runtime.Unknown` envelope
//! (`typeMeta`, `raw`) around the object's protobuf (the `k8s-pb` crate's
//! generated types). The object becomes the JSON the rest of the server
//! reads. Kinds not read yet get a 415 that names them; answers are JSON,
//! which kubectl accepts.

mod objects;
mod pod;
mod rbac;
mod scheduling;

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
        ("v1", "ConfigMap") => objects::config_map(decoded(&bytes)?),
        ("v1", "Secret") => objects::secret(decoded(&bytes)?),
        ("apps/v1", "Deployment") => objects::deployment(decoded(&bytes)?)?,
        ("apps/v1", "ReplicaSet") => objects::replica_set(decoded(&bytes)?)?,
        ("v1", "Pod") => objects::pod(decoded(&bytes)?)?,
        ("coordination.k8s.io/v1", "Lease") => objects::lease(decoded(&bytes)?)?,
        ("v1", "Event") => objects::event(decoded(&bytes)?)?,
        ("policy/v1", "Eviction") => objects::eviction(decoded(&bytes)?)?,
        ("rbac.authorization.k8s.io/v1", "Role") => rbac::role(decoded(&bytes)?),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => rbac::cluster_role(decoded(&bytes)?)?,
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => rbac::role_binding(decoded(&bytes)?),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            rbac::cluster_role_binding(decoded(&bytes)?)
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

fn decoded<M: Message + Default>(bytes: &[u8]) -> Result<M, Status> {
    M::decode(bytes).map_err(|e| bad(e.to_string()))
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
        let other = decode(&envelope("batch/v1", "Job", Vec::new())).unwrap_err();
        assert_eq!((other.code, other.reason), (415, "UnsupportedMediaType"));
        assert!(other.message.contains("batch/v1 Job"), "{}", other.message);
    }

    /// What `kubectl create deployment web --image=nginx --port=80` sends,
    /// with the empty strings, `false`s and empty structs Go's encoder
    /// writes for the fields it leaves alone.
    fn typed_client_deployment() -> k8s_pb::api::apps::v1::Deployment {
        use k8s_pb::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
        use k8s_pb::api::core::v1::{
            Container, ContainerPort, PodSpec, PodTemplateSpec, ResourceRequirements,
        };
        use k8s_pb::apimachinery::pkg::apis::meta::v1::LabelSelector;
        let labels = std::collections::BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let container = Container {
            name: Some("nginx".into()),
            image: Some("nginx".into()),
            ports: vec![ContainerPort {
                container_port: Some(80),
                host_port: Some(0),
                protocol: Some(String::new()),
                ..Default::default()
            }],
            resources: Some(ResourceRequirements::default()),
            termination_message_path: Some(String::new()),
            stdin: Some(false),
            tty: Some(false),
            ..Default::default()
        };
        Deployment {
            metadata: Some(ObjectMeta {
                name: Some("web".into()),
                labels: labels.clone(),
                ..Default::default()
            }),
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                selector: Some(LabelSelector {
                    match_labels: labels.clone(),
                    ..Default::default()
                }),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta { labels, ..Default::default() }),
                    spec: Some(PodSpec {
                        containers: vec![container],
                        restart_policy: Some(String::new()),
                        dns_policy: Some(String::new()),
                        host_network: Some(false),
                        ..Default::default()
                    }),
                }),
                strategy: Some(DeploymentStrategy::default()),
                ..Default::default()
            }),
            status: Some(Default::default()),
        }
    }

    /// The first container of a Deployment's pod template.
    fn container(
        d: &mut k8s_pb::api::apps::v1::Deployment,
    ) -> &mut k8s_pb::api::core::v1::Container {
        let spec = d.spec.as_mut().and_then(|s| s.template.as_mut()).and_then(|t| t.spec.as_mut());
        &mut spec.expect("a pod spec").containers[0]
    }

    #[test]
    fn a_deployment_decodes_as_kubectl_create_deployment_sends_it() {
        let d = typed_client_deployment();
        let v = decode(&envelope("apps/v1", "Deployment", d.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "nginx", "image": "nginx",
                            "ports": [{"containerPort": 80}]}]}}}})
        );
        // What orch does not model is refused, naming the field; an empty
        // message (what Go writes for a field left alone) is not.
        let mut empty = typed_client_deployment();
        container(&mut empty).security_context = Some(Default::default());
        assert!(decode(&envelope("apps/v1", "Deployment", empty.encode_to_vec())).is_ok());
        let mut secured = typed_client_deployment();
        container(&mut secured).security_context = Some(k8s_pb::api::core::v1::SecurityContext {
            run_as_user: Some(1000),
            ..Default::default()
        });
        let refused =
            decode(&envelope("apps/v1", "Deployment", secured.encode_to_vec())).unwrap_err();
        assert_eq!(refused.code, 415);
        assert!(refused.message.contains("Container.securityContext"), "{}", refused.message);
    }

    /// A Pod with what orch models of a spec: probes, env from a
    /// ConfigMap key, volumes and their mounts, affinity, tolerations.
    #[test]
    fn a_pod_decodes_with_everything_orch_models() {
        use k8s_pb::api::core::v1 as pb;
        use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
        let probe = pb::Probe {
            handler: Some(pb::ProbeHandler {
                http_get: Some(pb::HttpGetAction {
                    path: Some("/healthz".into()),
                    port: Some(IntOrString { r#type: Some(0), int_val: Some(8080), str_val: None }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        };
        let container = pb::Container {
            name: Some("web".into()),
            image: Some("myapp:1".into()),
            env: vec![pb::EnvVar {
                name: Some("MODE".into()),
                value_from: Some(pb::EnvVarSource {
                    config_map_key_ref: Some(pb::ConfigMapKeySelector {
                        local_object_reference: Some(pb::LocalObjectReference {
                            name: Some("settings".into()),
                        }),
                        key: Some("mode".into()),
                        optional: None,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            readiness_probe: Some(probe),
            volume_mounts: vec![pb::VolumeMount {
                name: Some("scratch".into()),
                mount_path: Some("/tmp/scratch".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let pod = pb::Pod {
            metadata: Some(ObjectMeta { name: Some("p".into()), ..Default::default() }),
            spec: Some(pb::PodSpec {
                containers: vec![container],
                volumes: vec![pb::Volume {
                    name: Some("scratch".into()),
                    volume_source: Some(pb::VolumeSource {
                        empty_dir: Some(Default::default()),
                        ..Default::default()
                    }),
                }],
                tolerations: vec![pb::Toleration {
                    key: Some("dedicated".into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoSchedule".into()),
                    ..Default::default()
                }],
                affinity: Some(pb::Affinity {
                    node_affinity: Some(pb::NodeAffinity {
                        required_during_scheduling_ignored_during_execution: Some(
                            pb::NodeSelector {
                                node_selector_terms: vec![pb::NodeSelectorTerm {
                                    match_expressions: vec![pb::NodeSelectorRequirement {
                                        key: Some("zone".into()),
                                        operator: Some("In".into()),
                                        values: vec!["a".into()],
                                    }],
                                    ..Default::default()
                                }],
                            },
                        ),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        };
        let v = decode(&envelope("v1", "Pod", pod.encode_to_vec())).unwrap();
        let typed: orch_core::Pod = serde_json::from_value(v.clone()).expect("orch's Pod");
        let c = &typed.spec.containers[0];
        assert_eq!(v["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"], 8080);
        assert_eq!(
            c.env[0]
                .value_from
                .as_ref()
                .and_then(|f| f.config_map_key_ref.as_ref())
                .map(|k| k.key.as_str()),
            Some("mode")
        );
        assert_eq!(c.volume_mounts[0].mount_path, "/tmp/scratch");
        assert!(typed.spec.volumes[0].empty_dir.is_some(), "{v}");
        assert_eq!(typed.spec.tolerations[0].operator.as_deref(), Some("Exists"));
        assert_eq!(
            v["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchExpressions"][0]["key"],
            "zone"
        );
        assert!(
            orch_core::manifest::unknown_fields::<orch_core::Pod>(v).is_empty(),
            "every field read is modelled"
        );
    }

    #[test]
    fn config_maps_and_secrets_decode_whole() {
        use k8s_pb::api::core::v1::{ConfigMap, Secret};
        let cm = ConfigMap {
            metadata: Some(ObjectMeta { name: Some("c".into()), ..Default::default() }),
            data: [("a".to_owned(), "1".to_owned())].into(),
            binary_data: [("b".to_owned(), vec![0u8, 1])].into(),
            immutable: None,
        };
        let v = decode(&envelope("v1", "ConfigMap", cm.encode_to_vec())).unwrap();
        assert_eq!(v["data"], json!({"a": "1"}));
        assert_eq!(v["binaryData"], json!({"b": "AAE="}));
        let s = Secret {
            metadata: Some(ObjectMeta { name: Some("s".into()), ..Default::default() }),
            data: [("k".to_owned(), b"v".to_vec())].into(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Secret", s.encode_to_vec())).unwrap();
        assert_eq!((v["data"]["k"].as_str(), v["type"].as_str()), (Some("dg=="), Some("Opaque")));
    }
}
