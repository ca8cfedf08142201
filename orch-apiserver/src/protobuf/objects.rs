//! ConfigMap, Secret, Deployment and Eviction from their protobuf
//! encodings (the `k8s-pb` types), as kubectl's typed clients send them
//! for `create configmap`, `create secret generic`, `create deployment`
//! and `drain`.
//!
//! ConfigMap and Secret are read whole. Of a Deployment, the fields those
//! commands set are read: the spec's replicas, selector, strategy and
//! rollout bounds, and of its pod template the metadata, containers
//! (name, image, command, args, workingDir, ports, env values, resources,
//! imagePullPolicy), restartPolicy, nodeName, nodeSelector, schedulerName
//! and terminationGracePeriodSeconds. Every other field is checked to be
//! unset — each message is destructured field by field, so a field added
//! to Kubernetes' types is a compile error here, not a silent drop — and a
//! body that sets one gets a 415 naming it (send JSON for those).

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_pb::api::core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec, Secret};
use k8s_pb::api::policy::v1::Eviction;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{DeleteOptions, LabelSelector};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{json, Map, Value};

use super::meta;
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
    let binary: BTreeMap<String, String> = binary_data
        .into_iter()
        .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
        .collect();
    Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("immutable", json!(immutable))
        .put("data", json!(data))
        .put("binaryData", json!(binary))
        .done()
}

/// A Secret: data (base64 in JSON), stringData, type, immutable.
pub fn secret(s: Secret) -> Value {
    let Secret { metadata, immutable, data, string_data, r#type } = s;
    let data: BTreeMap<String, String> = data
        .into_iter()
        .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
        .collect();
    Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("immutable", json!(immutable))
        .put("data", json!(data))
        .put("stringData", json!(string_data))
        .put("type", json!(r#type))
        .done()
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

fn int_or_string(v: IntOrString) -> Value {
    match v.r#type {
        Some(1) => json!(v.str_val.unwrap_or_default()),
        _ => json!(v.int_val.unwrap_or_default()),
    }
}

fn label_selector(s: LabelSelector) -> Value {
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

fn pod_template(t: PodTemplateSpec) -> Result<Value, Status> {
    let PodTemplateSpec { metadata, spec } = t;
    Ok(Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("spec", pod_spec(spec.unwrap_or_default())?)
        .done())
}

fn pod_spec(s: PodSpec) -> Result<Value, Status> {
    let PodSpec {
        volumes,
        init_containers,
        containers,
        ephemeral_containers,
        restart_policy,
        termination_grace_period_seconds,
        active_deadline_seconds,
        dns_policy,
        node_selector,
        service_account_name,
        service_account,
        automount_service_account_token,
        node_name,
        host_network,
        host_pid,
        host_ipc,
        share_process_namespace,
        security_context,
        image_pull_secrets,
        hostname,
        subdomain,
        affinity,
        scheduler_name,
        tolerations,
        host_aliases,
        priority_class_name,
        priority,
        dns_config,
        readiness_gates,
        runtime_class_name,
        enable_service_links,
        preemption_policy,
        overhead,
        topology_spread_constraints,
        set_hostname_as_fqdn,
        os,
        host_users,
        scheduling_gates,
        resource_claims,
        resources,
        hostname_override,
        workload_ref,
    } = s;
    unread(
        "PodSpec",
        &[
            ("volumes", volumes.is_set()),
            ("initContainers", init_containers.is_set()),
            ("ephemeralContainers", ephemeral_containers.is_set()),
            ("activeDeadlineSeconds", active_deadline_seconds.is_set()),
            ("dnsPolicy", dns_policy.is_set()),
            ("serviceAccountName", service_account_name.is_set()),
            ("serviceAccount", service_account.is_set()),
            ("automountServiceAccountToken", automount_service_account_token.is_set()),
            ("hostNetwork", host_network.is_set()),
            ("hostPID", host_pid.is_set()),
            ("hostIPC", host_ipc.is_set()),
            ("shareProcessNamespace", share_process_namespace.is_set()),
            ("securityContext", security_context.is_set()),
            ("imagePullSecrets", image_pull_secrets.is_set()),
            ("hostname", hostname.is_set()),
            ("subdomain", subdomain.is_set()),
            ("affinity", affinity.is_set()),
            ("tolerations", tolerations.is_set()),
            ("hostAliases", host_aliases.is_set()),
            ("priorityClassName", priority_class_name.is_set()),
            ("priority", priority.is_set()),
            ("dnsConfig", dns_config.is_set()),
            ("readinessGates", readiness_gates.is_set()),
            ("runtimeClassName", runtime_class_name.is_set()),
            ("enableServiceLinks", enable_service_links.is_set()),
            ("preemptionPolicy", preemption_policy.is_set()),
            ("overhead", overhead.is_set()),
            ("topologySpreadConstraints", topology_spread_constraints.is_set()),
            ("setHostnameAsFQDN", set_hostname_as_fqdn.is_set()),
            ("os", os.is_set()),
            ("hostUsers", host_users.is_set()),
            ("schedulingGates", scheduling_gates.is_set()),
            ("resourceClaims", resource_claims.is_set()),
            ("resources", resources.is_set()),
            ("hostnameOverride", hostname_override.is_set()),
            ("workloadRef", workload_ref.is_set()),
        ],
    )?;
    let containers = containers.into_iter().map(container).collect::<Result<Vec<_>, _>>()?;
    Ok(Obj::default()
        .put("containers", json!(containers))
        .put("restartPolicy", json!(restart_policy))
        .put("terminationGracePeriodSeconds", json!(termination_grace_period_seconds))
        .put("nodeSelector", json!(node_selector))
        .put("nodeName", json!(node_name))
        .put("schedulerName", json!(scheduler_name))
        .done())
}

fn container(c: Container) -> Result<Value, Status> {
    let Container {
        name,
        image,
        command,
        args,
        working_dir,
        ports,
        env_from,
        env,
        resources,
        resize_policy,
        restart_policy,
        restart_policy_rules,
        volume_mounts,
        volume_devices,
        liveness_probe,
        readiness_probe,
        startup_probe,
        lifecycle,
        termination_message_path,
        termination_message_policy,
        image_pull_policy,
        security_context,
        stdin,
        stdin_once,
        tty,
    } = c;
    let value_from = env.iter().any(|e| e.value_from.is_set());
    unread(
        "Container",
        &[
            ("envFrom", env_from.is_set()),
            ("env.valueFrom", value_from),
            ("resizePolicy", resize_policy.is_set()),
            ("restartPolicy", restart_policy.is_set()),
            ("restartPolicyRules", restart_policy_rules.is_set()),
            ("volumeMounts", volume_mounts.is_set()),
            ("volumeDevices", volume_devices.is_set()),
            ("livenessProbe", liveness_probe.is_set()),
            ("readinessProbe", readiness_probe.is_set()),
            ("startupProbe", startup_probe.is_set()),
            ("lifecycle", lifecycle.is_set()),
            ("terminationMessagePath", termination_message_path.is_set()),
            ("terminationMessagePolicy", termination_message_policy.is_set()),
            ("securityContext", security_context.is_set()),
            ("stdin", stdin.is_set()),
            ("stdinOnce", stdin_once.is_set()),
            ("tty", tty.is_set()),
        ],
    )?;
    let ports: Vec<Value> = ports
        .into_iter()
        .map(|p| {
            Obj::default()
                .put("name", json!(p.name))
                .put("containerPort", json!(p.container_port))
                .put("hostPort", json!(p.host_port.filter(|p| *p != 0)))
                .put("hostIP", json!(p.host_ip))
                .put("protocol", json!(p.protocol))
                .done()
        })
        .collect();
    let env: Vec<Value> =
        env.into_iter().map(|e| json!({"name": e.name, "value": e.value})).collect();
    let quantities = |m: BTreeMap<String, k8s_pb::apimachinery::pkg::api::resource::Quantity>| {
        m.into_iter().map(|(k, q)| (k, json!(q.string))).collect::<Map<String, Value>>()
    };
    unread(
        "ResourceRequirements",
        &[("claims", resources.as_ref().is_some_and(|r| r.claims.is_set()))],
    )?;
    let resources = resources
        .map(|r| {
            Obj::default()
                .put("limits", Value::Object(quantities(r.limits)))
                .put("requests", Value::Object(quantities(r.requests)))
                .done()
        })
        .unwrap_or(Value::Null);
    Ok(Obj::default()
        .put("name", json!(name))
        .put("image", json!(image))
        .put("command", json!(command))
        .put("args", json!(args))
        .put("workingDir", json!(working_dir))
        .put("ports", json!(ports))
        .put("env", json!(env))
        .put("resources", resources)
        .put("imagePullPolicy", json!(image_pull_policy))
        .done())
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
