//! A pod template's (and a Pod's) spec from protobuf: every field orch
//! models — containers and init containers (image, command, env and
//! envFrom, ports, resources, probes, lifecycle hooks, volume mounts),
//! volumes (configMap, secret, emptyDir), affinity, tolerations and
//! topology spread ([`super::scheduling`]), priority, the node and
//! scheduler fields. Each message is
//! destructured field by field; a field orch does not model, when set, is
//! refused with a 415 naming it (send JSON to have it dropped with a
//! warning instead), so nothing a client sent is lost silently.

use k8s_pb::api::core::v1 as pb;
use serde_json::{json, Value};

use super::meta;
use super::objects::{int_or_string, unread, IsSet, Obj};
use super::scheduling::{affinity_of, spread, toleration};
use crate::status::Status;

pub(super) type Result<T> = std::result::Result<T, Status>;

pub(super) fn all<T>(items: Vec<T>, f: impl Fn(T) -> Result<Value>) -> Result<Value> {
    items.into_iter().map(f).collect::<Result<Vec<_>>>().map(Value::Array)
}

fn some<T>(item: Option<T>, f: impl Fn(T) -> Result<Value>) -> Result<Value> {
    item.map(f).transpose().map(|v| v.unwrap_or(Value::Null))
}

/// A PodTemplateSpec.
pub fn pod_template(t: pb::PodTemplateSpec) -> Result<Value> {
    let pb::PodTemplateSpec { metadata, spec } = t;
    Ok(Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("spec", pod_spec(spec.unwrap_or_default())?)
        .done())
}

/// A PodSpec.
pub fn pod_spec(s: pb::PodSpec) -> Result<Value> {
    let pb::PodSpec {
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
            ("ephemeralContainers", ephemeral_containers.is_set()),
            ("activeDeadlineSeconds", active_deadline_seconds.is_set()),
            ("dnsPolicy", dns_policy.is_set()),
            ("serviceAccountName", service_account_name.is_set()),
            ("serviceAccount", service_account.is_set()),
            ("automountServiceAccountToken", automount_service_account_token.is_set()),
            ("hostPID", host_pid.is_set()),
            ("hostIPC", host_ipc.is_set()),
            ("shareProcessNamespace", share_process_namespace.is_set()),
            ("securityContext", security_context.is_set()),
            ("imagePullSecrets", image_pull_secrets.is_set()),
            ("subdomain", subdomain.is_set()),
            ("hostAliases", host_aliases.is_set()),
            ("dnsConfig", dns_config.is_set()),
            ("readinessGates", readiness_gates.is_set()),
            ("runtimeClassName", runtime_class_name.is_set()),
            ("enableServiceLinks", enable_service_links.is_set()),
            ("preemptionPolicy", preemption_policy.is_set()),
            ("overhead", overhead.is_set()),
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
    Ok(Obj::default()
        .put("initContainers", all(init_containers, container)?)
        .put("containers", all(containers, container)?)
        .put("restartPolicy", json!(restart_policy))
        .put("terminationGracePeriodSeconds", json!(termination_grace_period_seconds))
        .put("nodeSelector", json!(node_selector))
        .put("nodeName", json!(node_name))
        .put("hostNetwork", json!(host_network.filter(|h| *h)))
        .put("hostname", json!(hostname))
        .put("affinity", some(affinity, affinity_of)?)
        .put("schedulerName", json!(scheduler_name))
        .put("tolerations", all(tolerations, |t| Ok(toleration(t)))?)
        .put("priorityClassName", json!(priority_class_name))
        .put("priority", json!(priority))
        .put("topologySpreadConstraints", all(topology_spread_constraints, |c| Ok(spread(c)))?)
        .put("volumes", all(volumes, volume)?)
        .done())
}

fn container(c: pb::Container) -> Result<Value> {
    let pb::Container {
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
    unread(
        "Container",
        &[
            ("resizePolicy", resize_policy.is_set()),
            ("restartPolicy", restart_policy.is_set()),
            ("restartPolicyRules", restart_policy_rules.is_set()),
            ("volumeDevices", volume_devices.is_set()),
            ("terminationMessagePath", termination_message_path.is_set()),
            ("terminationMessagePolicy", termination_message_policy.is_set()),
            ("securityContext", security_context.is_set()),
            ("stdin", stdin.is_set()),
            ("stdinOnce", stdin_once.is_set()),
            ("tty", tty.is_set()),
        ],
    )?;
    let ports = ports.into_iter().map(|p| {
        let pb::ContainerPort { name, host_port, container_port, protocol, host_ip } = p;
        Obj::default()
            .put("name", json!(name))
            .put("containerPort", json!(container_port))
            .put("hostPort", json!(host_port.filter(|p| *p != 0)))
            .put("hostIP", json!(host_ip))
            .put("protocol", json!(protocol))
            .done()
    });
    Ok(Obj::default()
        .put("name", json!(name))
        .put("image", json!(image))
        .put("imagePullPolicy", json!(image_pull_policy))
        .put("command", json!(command))
        .put("args", json!(args))
        .put("workingDir", json!(working_dir))
        .put("env", all(env, env_var)?)
        .put("envFrom", all(env_from, |e| Ok(env_from_source(e)))?)
        .put("ports", Value::Array(ports.collect()))
        .put("resources", some(resources, requirements)?)
        .put("livenessProbe", some(liveness_probe, probe)?)
        .put("readinessProbe", some(readiness_probe, probe)?)
        .put("startupProbe", some(startup_probe, probe)?)
        .put("lifecycle", some(lifecycle, lifecycle_of)?)
        .put("volumeMounts", all(volume_mounts, volume_mount)?)
        .done())
}

fn requirements(r: pb::ResourceRequirements) -> Result<Value> {
    let pb::ResourceRequirements { limits, requests, claims } = r;
    unread("ResourceRequirements", &[("claims", claims.is_set())])?;
    let quantities =
        |m: std::collections::BTreeMap<
            String,
            k8s_pb::apimachinery::pkg::api::resource::Quantity,
        >| { Value::Object(m.into_iter().map(|(k, q)| (k, json!(q.string))).collect()) };
    Ok(Obj::default()
        .put("limits", quantities(limits))
        .put("requests", quantities(requests))
        .done())
}

fn env_var(e: pb::EnvVar) -> Result<Value> {
    let pb::EnvVar { name, value, value_from } = e;
    let from = match value_from {
        None => Value::Null,
        Some(pb::EnvVarSource {
            field_ref,
            resource_field_ref,
            config_map_key_ref,
            secret_key_ref,
            file_key_ref,
        }) => {
            unread(
                "EnvVarSource",
                &[
                    ("resourceFieldRef", resource_field_ref.is_set()),
                    ("fileKeyRef", file_key_ref.is_set()),
                ],
            )?;
            let key_ref = |r: Option<String>, key: Option<String>, optional: Option<bool>| {
                Obj::default()
                    .put("name", json!(r))
                    .put("key", json!(key))
                    .put("optional", json!(optional))
                    .done()
            };
            Obj::default()
                .put(
                    "fieldRef",
                    field_ref
                        .map(|f| {
                            Obj::default()
                                .put("apiVersion", json!(f.api_version))
                                .put("fieldPath", json!(f.field_path))
                                .done()
                        })
                        .unwrap_or(Value::Null),
                )
                .put(
                    "configMapKeyRef",
                    config_map_key_ref
                        .map(|k| {
                            key_ref(
                                k.local_object_reference.and_then(|r| r.name),
                                k.key,
                                k.optional,
                            )
                        })
                        .unwrap_or(Value::Null),
                )
                .put(
                    "secretKeyRef",
                    secret_key_ref
                        .map(|k| {
                            key_ref(
                                k.local_object_reference.and_then(|r| r.name),
                                k.key,
                                k.optional,
                            )
                        })
                        .unwrap_or(Value::Null),
                )
                .done()
        }
    };
    Ok(Obj::default()
        .put("name", json!(name))
        .put("value", json!(value))
        .put("valueFrom", from)
        .done())
}

fn env_from_source(e: pb::EnvFromSource) -> Value {
    let pb::EnvFromSource { prefix, config_map_ref, secret_ref } = e;
    let reference = |name: Option<String>, optional: Option<bool>| {
        Obj::default().put("name", json!(name)).put("optional", json!(optional)).done()
    };
    Obj::default()
        .put("prefix", json!(prefix))
        .put(
            "configMapRef",
            config_map_ref
                .map(|r| reference(r.local_object_reference.and_then(|l| l.name), r.optional))
                .unwrap_or(Value::Null),
        )
        .put(
            "secretRef",
            secret_ref
                .map(|r| reference(r.local_object_reference.and_then(|l| l.name), r.optional))
                .unwrap_or(Value::Null),
        )
        .done()
}

/// The handler fields of a probe or lifecycle hook, into `obj`.
fn handler(
    obj: &mut Obj,
    exec: Option<pb::ExecAction>,
    http_get: Option<pb::HttpGetAction>,
    tcp_socket: Option<pb::TcpSocketAction>,
) {
    if let Some(e) = exec {
        obj.put("exec", json!({ "command": e.command }));
    }
    if let Some(h) = http_get {
        let pb::HttpGetAction { path, port, host, scheme, http_headers } = h;
        let headers: Vec<Value> =
            http_headers.into_iter().map(|h| json!({"name": h.name, "value": h.value})).collect();
        let get = Obj::default()
            .put("path", json!(path))
            .put("port", port.map(int_or_string).unwrap_or(Value::Null))
            .put("host", json!(host))
            .put("scheme", json!(scheme))
            .put("httpHeaders", Value::Array(headers))
            .done();
        obj.put("httpGet", get);
    }
    if let Some(t) = tcp_socket {
        let socket = Obj::default()
            .put("port", t.port.map(int_or_string).unwrap_or(Value::Null))
            .put("host", json!(t.host))
            .done();
        obj.put("tcpSocket", socket);
    }
}

fn probe(p: pb::Probe) -> Result<Value> {
    let pb::Probe {
        handler: h,
        initial_delay_seconds,
        timeout_seconds,
        period_seconds,
        success_threshold,
        failure_threshold,
        termination_grace_period_seconds,
    } = p;
    let pb::ProbeHandler { exec, http_get, tcp_socket, grpc } = h.unwrap_or_default();
    unread(
        "Probe",
        &[
            ("grpc", grpc.is_set()),
            ("terminationGracePeriodSeconds", termination_grace_period_seconds.is_set()),
        ],
    )?;
    let mut obj = Obj::default();
    handler(&mut obj, exec, http_get, tcp_socket);
    Ok(obj
        .put("initialDelaySeconds", json!(initial_delay_seconds))
        .put("timeoutSeconds", json!(timeout_seconds))
        .put("periodSeconds", json!(period_seconds))
        .put("successThreshold", json!(success_threshold))
        .put("failureThreshold", json!(failure_threshold))
        .done())
}

fn lifecycle_of(l: pb::Lifecycle) -> Result<Value> {
    let pb::Lifecycle { post_start, pre_stop, stop_signal } = l;
    unread("Lifecycle", &[("stopSignal", stop_signal.is_set())])?;
    let hook = |h: pb::LifecycleHandler| {
        let pb::LifecycleHandler { exec, http_get, tcp_socket, sleep } = h;
        let mut obj = Obj::default();
        handler(&mut obj, exec, http_get, tcp_socket);
        if let Some(s) = sleep {
            obj.put("sleep", json!({ "seconds": s.seconds.unwrap_or_default() }));
        }
        Ok(obj.done())
    };
    Ok(Obj::default()
        .put("postStart", some(post_start, hook)?)
        .put("preStop", some(pre_stop, hook)?)
        .done())
}

fn volume_mount(m: pb::VolumeMount) -> Result<Value> {
    let pb::VolumeMount {
        name,
        read_only,
        recursive_read_only,
        mount_path,
        sub_path,
        mount_propagation,
        sub_path_expr,
    } = m;
    unread(
        "VolumeMount",
        &[
            ("recursiveReadOnly", recursive_read_only.is_set()),
            ("mountPropagation", mount_propagation.is_set()),
            ("subPathExpr", sub_path_expr.is_set()),
        ],
    )?;
    Ok(Obj::default()
        .put("name", json!(name))
        .put("mountPath", json!(mount_path))
        .put("readOnly", json!(read_only.filter(|r| *r)))
        .put("subPath", json!(sub_path))
        .done())
}

fn key_to_paths(items: Vec<pb::KeyToPath>) -> Value {
    let items = items.into_iter().map(|k| {
        Obj::default()
            .put("key", json!(k.key))
            .put("path", json!(k.path))
            .put("mode", json!(k.mode))
            .done()
    });
    Value::Array(items.collect())
}

fn volume(v: pb::Volume) -> Result<Value> {
    let pb::Volume { name, volume_source } = v;
    let source = volume_source.unwrap_or_default();
    let pb::VolumeSource {
        host_path,
        empty_dir,
        gce_persistent_disk,
        aws_elastic_block_store,
        git_repo,
        secret,
        nfs,
        iscsi,
        glusterfs,
        persistent_volume_claim,
        rbd,
        flex_volume,
        cinder,
        cephfs,
        flocker,
        downward_api,
        fc,
        azure_file,
        config_map,
        vsphere_volume,
        quobyte,
        azure_disk,
        photon_persistent_disk,
        projected,
        portworx_volume,
        scale_io,
        storageos,
        csi,
        ephemeral,
        image,
    } = source;
    unread(
        "VolumeSource",
        &[
            ("hostPath", host_path.is_set()),
            ("gcePersistentDisk", gce_persistent_disk.is_set()),
            ("awsElasticBlockStore", aws_elastic_block_store.is_set()),
            ("gitRepo", git_repo.is_set()),
            ("nfs", nfs.is_set()),
            ("iscsi", iscsi.is_set()),
            ("glusterfs", glusterfs.is_set()),
            ("persistentVolumeClaim", persistent_volume_claim.is_set()),
            ("rbd", rbd.is_set()),
            ("flexVolume", flex_volume.is_set()),
            ("cinder", cinder.is_set()),
            ("cephfs", cephfs.is_set()),
            ("flocker", flocker.is_set()),
            ("downwardAPI", downward_api.is_set()),
            ("fc", fc.is_set()),
            ("azureFile", azure_file.is_set()),
            ("vsphereVolume", vsphere_volume.is_set()),
            ("quobyte", quobyte.is_set()),
            ("azureDisk", azure_disk.is_set()),
            ("photonPersistentDisk", photon_persistent_disk.is_set()),
            ("projected", projected.is_set()),
            ("portworxVolume", portworx_volume.is_set()),
            ("scaleIO", scale_io.is_set()),
            ("storageos", storageos.is_set()),
            ("csi", csi.is_set()),
            ("ephemeral", ephemeral.is_set()),
            ("image", image.is_set()),
        ],
    )?;
    let config_map = config_map.map(|c| {
        Obj::default()
            .put("name", json!(c.local_object_reference.and_then(|r| r.name)))
            .put("items", key_to_paths(c.items))
            .put("defaultMode", json!(c.default_mode))
            .put("optional", json!(c.optional))
            .done()
    });
    let secret = secret.map(|s| {
        Obj::default()
            .put("secretName", json!(s.secret_name))
            .put("items", key_to_paths(s.items))
            .put("defaultMode", json!(s.default_mode))
            .put("optional", json!(s.optional))
            .done()
    });
    let empty_dir = empty_dir.map(|e| {
        let mut obj = Obj::default();
        obj.put("medium", json!(e.medium))
            .put("sizeLimit", json!(e.size_limit.and_then(|q| q.string)));
        // An emptyDir with nothing set is still an emptyDir.
        match obj.done() {
            Value::Object(m) if m.is_empty() => json!({}),
            v => v,
        }
    });
    let mut obj = Obj::default();
    obj.put("name", json!(name)).put("configMap", json!(config_map)).put("secret", json!(secret));
    let mut value = obj.done();
    if let Some(e) = empty_dir {
        value["emptyDir"] = e;
    }
    Ok(value)
}
