//! ConfigMap, Secret, Deployment, ReplicaSet, Pod, Lease, Event and Eviction
//! from their protobuf encodings (the `k8s-pb` types), as Kubernetes'
//! typed clients send them — kubectl's `create configmap`, `create secret
//! generic`, `create deployment` and `drain`, and client-go's typed clients
//! configured for protobuf. A pod spec is read by [`super::pod`]; every
//! message is destructured field by field, so a field added to
//! Kubernetes' types is a compile error here, not a silent drop, and a
//! body that sets a field orch does not model gets a 415 naming it (send
//! JSON for those). Statuses are not read: a create ignores them.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec,
};
use k8s_pb::api::coordination::v1::{Lease, LeaseSpec};
use k8s_pb::api::core::v1::{ConfigMap, Event, ObjectReference, Pod, Secret};
use k8s_pb::api::policy::v1::Eviction;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{DeleteOptions, LabelSelector};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{json, Map, Value};

use super::meta;
use super::pod::{pod_spec, pod_template};
use crate::status::Status;

/// Whether a client set a field: a present message that encodes to
/// something (Go's typed clients write empty strings, `false` and empty
/// structs for fields they leave alone), a non-empty list or map.
pub(super) trait IsSet {
    fn is_set(&self) -> bool;
}

impl<M: Message> IsSet for Option<M> {
    fn is_set(&self) -> bool {
        self.as_ref().is_some_and(|m| m.encoded_len() > 0)
    }
}

impl<T> IsSet for Vec<T> {
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
}

impl<K, V> IsSet for BTreeMap<K, V> {
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
}

/// A 415 if any of `fields` of `message` is set.
pub(super) fn unread(message: &str, fields: &[(&str, bool)]) -> Result<(), Status> {
    match fields.iter().find(|(_, set)| *set) {
        None => Ok(()),
        Some((field, _)) => Err(Status {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "{message}.{field} is not read from protobuf bodies yet; send JSON \
                 (application/json)"
            ),
            details: None,
        }),
    }
}

/// A JSON object that takes only what is set.
#[derive(Default)]
pub(super) struct Obj(Map<String, Value>);

impl Obj {
    pub(super) fn put(&mut self, key: &str, value: Value) -> &mut Self {
        let empty = match &value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            self.0.insert(key.to_owned(), value);
        }
        self
    }

    pub(super) fn done(&mut self) -> Value {
        Value::Object(std::mem::take(&mut self.0))
    }
}

/// A ConfigMap: data, binaryData (base64 in JSON), immutable.
pub fn config_map(cm: ConfigMap) -> Value {
    let ConfigMap { metadata, immutable, data, binary_data } = cm;
    Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("immutable", json!(immutable))
        .put("data", json!(data))
        .put("binaryData", base64_values(binary_data))
        .done()
}

/// Bytes by key as JSON writes them: base64.
fn base64_values(map: BTreeMap<String, Vec<u8>>) -> Value {
    let encode = |v: Vec<u8>| Value::String(base64::engine::general_purpose::STANDARD.encode(v));
    Value::Object(map.into_iter().map(|(k, v)| (k, encode(v))).collect())
}

/// A Secret: data (base64 in JSON), stringData, type, immutable.
pub fn secret(s: Secret) -> Value {
    let Secret { metadata, immutable, data, string_data, r#type } = s;
    Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("immutable", json!(immutable))
        .put("data", base64_values(data))
        .put("stringData", json!(string_data))
        .put("type", json!(r#type))
        .done()
}

/// A ReplicaSet.
///
/// Errors: a 415 naming the first field set that is not read.
pub fn replica_set(r: ReplicaSet) -> Result<Value, Status> {
    let ReplicaSet { metadata, spec, status: _ } = r;
    let ReplicaSetSpec { replicas, min_ready_seconds, selector, template } =
        spec.unwrap_or_default();
    let spec = Obj::default()
        .put("replicas", json!(replicas))
        .put("minReadySeconds", json!(min_ready_seconds))
        .put("selector", label_selector(selector.unwrap_or_default()))
        .put("template", pod_template(template.unwrap_or_default())?)
        .done();
    Ok(Obj::default().put("metadata", meta(metadata.unwrap_or_default())).put("spec", spec).done())
}

/// A Pod.
///
/// Errors: a 415 naming the first field set that is not read.
pub fn pod(p: Pod) -> Result<Value, Status> {
    let Pod { metadata, spec, status: _ } = p;
    Ok(Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("spec", pod_spec(spec.unwrap_or_default())?)
        .done())
}

/// A Lease (coordination.k8s.io/v1), as a leader elector or a node agent
/// writes it.
///
/// Errors: a 415 for the fields orch does not model (`strategy`,
/// `preferredHolder`).
pub fn lease(l: Lease) -> Result<Value, Status> {
    let Lease { metadata, spec } = l;
    let LeaseSpec {
        holder_identity,
        lease_duration_seconds,
        acquire_time,
        renew_time,
        lease_transitions,
        strategy,
        preferred_holder,
    } = spec.unwrap_or_default();
    unread(
        "LeaseSpec",
        &[("strategy", strategy.is_set()), ("preferredHolder", preferred_holder.is_set())],
    )?;
    let time = |t: Option<k8s_pb::apimachinery::pkg::apis::meta::v1::MicroTime>| {
        t.and_then(|t| rfc3339(t.seconds, t.nanos, chrono::SecondsFormat::Micros))
    };
    let spec = Obj::default()
        .put("holderIdentity", json!(holder_identity))
        .put("leaseDurationSeconds", json!(lease_duration_seconds))
        .put("acquireTime", json!(time(acquire_time)))
        .put("renewTime", json!(time(renew_time)))
        .put("leaseTransitions", json!(lease_transitions))
        .done();
    Ok(Obj::default().put("metadata", meta(metadata.unwrap_or_default())).put("spec", spec).done())
}

/// A protobuf time (seconds and nanoseconds since the epoch) as RFC 3339.
fn rfc3339(
    seconds: Option<i64>,
    nanos: Option<i32>,
    format: chrono::SecondsFormat,
) -> Option<String> {
    let nanos = u32::try_from(nanos.unwrap_or(0)).unwrap_or(0);
    let at = chrono::DateTime::from_timestamp(seconds.unwrap_or(0), nanos)?;
    Some(at.to_rfc3339_opts(format, true))
}

/// A core/v1 Event, as Kubernetes' event recorders write it.
///
/// Errors: a 415 for the fields orch does not model (`series`, `related`,
/// `reportingComponent`, `reportingInstance`).
pub fn event(e: Event) -> Result<Value, Status> {
    let Event {
        metadata,
        involved_object,
        reason,
        message,
        source,
        first_timestamp,
        last_timestamp,
        count,
        r#type,
        event_time,
        series,
        action,
        related,
        reporting_component,
        reporting_instance,
    } = e;
    unread(
        "Event",
        &[
            ("series", series.is_set()),
            ("related", related.is_set()),
            ("reportingComponent", reporting_component.is_set()),
            ("reportingInstance", reporting_instance.is_set()),
        ],
    )?;
    let ObjectReference { kind, namespace, name, uid, api_version, resource_version, field_path } =
        involved_object.unwrap_or_default();
    let involved = Obj::default()
        .put("kind", json!(kind))
        .put("namespace", json!(namespace))
        .put("name", json!(name))
        .put("uid", json!(uid))
        .put("apiVersion", json!(api_version))
        .put("resourceVersion", json!(resource_version))
        .put("fieldPath", json!(field_path))
        .done();
    let source = source
        .map(|s| {
            Obj::default().put("component", json!(s.component)).put("host", json!(s.host)).done()
        })
        .unwrap_or(Value::Null);
    let secs = chrono::SecondsFormat::Secs;
    let time = |t: Option<k8s_pb::apimachinery::pkg::apis::meta::v1::Time>| {
        t.and_then(|t| rfc3339(t.seconds, t.nanos, secs))
    };
    let micro = event_time.and_then(|t| rfc3339(t.seconds, t.nanos, chrono::SecondsFormat::Micros));
    Ok(Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("involvedObject", involved)
        .put("reason", json!(reason))
        .put("message", json!(message))
        .put("source", source)
        .put("firstTimestamp", json!(time(first_timestamp)))
        .put("lastTimestamp", json!(time(last_timestamp)))
        .put("count", json!(count))
        .put("type", json!(r#type))
        .put("eventTime", json!(micro))
        .put("action", json!(action))
        .done())
}

/// A Deployment (its status is not read: a create ignores it).
///
/// Errors: a 415 naming the first field set that is not read.
pub fn deployment(d: Deployment) -> Result<Value, Status> {
    let Deployment { metadata, spec, status: _ } = d;
    let DeploymentSpec {
        replicas,
        selector,
        template,
        strategy,
        min_ready_seconds,
        revision_history_limit,
        paused,
        progress_deadline_seconds,
    } = spec.unwrap_or_default();
    let spec = Obj::default()
        .put("replicas", json!(replicas))
        .put("selector", label_selector(selector.unwrap_or_default()))
        .put("template", pod_template(template.unwrap_or_default())?)
        .put("strategy", strategy.map(deployment_strategy).unwrap_or(Value::Null))
        .put("minReadySeconds", json!(min_ready_seconds))
        .put("revisionHistoryLimit", json!(revision_history_limit))
        .put("paused", json!(paused))
        .put("progressDeadlineSeconds", json!(progress_deadline_seconds))
        .done();
    Ok(Obj::default().put("metadata", meta(metadata.unwrap_or_default())).put("spec", spec).done())
}

fn deployment_strategy(s: DeploymentStrategy) -> Value {
    let DeploymentStrategy { r#type, rolling_update } = s;
    let rolling = rolling_update
        .map(|r| {
            Obj::default()
                .put("maxSurge", r.max_surge.map(int_or_string).unwrap_or(Value::Null))
                .put("maxUnavailable", r.max_unavailable.map(int_or_string).unwrap_or(Value::Null))
                .done()
        })
        .unwrap_or(Value::Null);
    Obj::default().put("type", json!(r#type)).put("rollingUpdate", rolling).done()
}

pub(super) fn int_or_string(v: IntOrString) -> Value {
    match v.r#type {
        Some(1) => json!(v.str_val.unwrap_or_default()),
        _ => json!(v.int_val.unwrap_or_default()),
    }
}

pub(super) fn label_selector(s: LabelSelector) -> Value {
    let LabelSelector { match_labels, match_expressions } = s;
    let expressions: Vec<Value> = match_expressions
        .into_iter()
        .map(|r| json!({"key": r.key, "operator": r.operator, "values": r.values}))
        .collect();
    Obj::default()
        .put("matchLabels", json!(match_labels))
        .put("matchExpressions", json!(expressions))
        .done()
}

/// A policy/v1 Eviction, as `kubectl drain` sends it: its metadata and
/// `deleteOptions` (grace period, preconditions, propagation, dry run).
///
/// Errors: a 415 for `ignoreStoreReadErrorWithClusterBreakingPotential`.
pub fn eviction(e: Eviction) -> Result<Value, Status> {
    let Eviction { metadata, delete_options } = e;
    let options = match delete_options {
        None => Value::Null,
        Some(o) => {
            let DeleteOptions {
                grace_period_seconds,
                preconditions,
                orphan_dependents,
                propagation_policy,
                dry_run,
                ignore_store_read_error_with_cluster_breaking_potential: unsafe_read,
            } = o;
            unread(
                "DeleteOptions",
                &[("ignoreStoreReadErrorWithClusterBreakingPotential", unsafe_read.is_set())],
            )?;
            let policy = propagation_policy
                .filter(|p| !p.is_empty())
                .or_else(|| (orphan_dependents == Some(true)).then(|| "Orphan".to_owned()));
            let preconditions = preconditions
                .map(|p| {
                    Obj::default()
                        .put("uid", json!(p.uid))
                        .put("resourceVersion", json!(p.resource_version))
                        .done()
                })
                .unwrap_or(Value::Null);
            Obj::default()
                .put("gracePeriodSeconds", json!(grace_period_seconds))
                .put("preconditions", preconditions)
                .put("propagationPolicy", json!(policy))
                .put("dryRun", json!(dry_run))
                .done()
        }
    };
    Ok(Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("deleteOptions", options)
        .done())
}
