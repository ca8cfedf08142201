//! The Pod's validation rules beyond metadata: its spec, containers and
//! probes. [`validate_spec`] also checks the Pod templates of workloads.

use std::collections::HashSet;

use super::{Container, KeyToPath, LifecycleHandler, Pod, PodSpec, Probe, Volume};
use crate::validation::{dns1123_label, dns1123_subdomain, labels, quantities, FieldErrors};

/// The Pod rules beyond metadata; run by the Api on create and update.
pub fn validate(obj: &Pod, errors: &mut FieldErrors) {
    validate_spec(&obj.spec, "spec", errors);
}

/// What an update may change in a running Pod's spec, as Kubernetes'
/// `ValidatePodUpdate`: the containers' and init containers' images and
/// added tolerations; everything else is fixed at create (the node through
/// the binding only). (`activeDeadlineSeconds`, which Kubernetes also lets
/// shrink, is not modelled.)
pub fn validate_update(new: &Pod, old: &Pod, errors: &mut FieldErrors) {
    let (new, old) = (&new.spec, &old.spec);
    let mut allowed = old.clone();
    for (list, from) in [
        (&mut allowed.containers, &new.containers),
        (&mut allowed.init_containers, &new.init_containers),
    ] {
        if list.len() == from.len() {
            for (a, n) in list.iter_mut().zip(from) {
                a.image.clone_from(&n.image);
            }
        }
    }
    let kept = old.tolerations.iter().all(|t| new.tolerations.contains(t));
    if kept {
        allowed.tolerations.clone_from(&new.tolerations);
    } else {
        errors.push("spec.tolerations", "existing tolerations may not be removed or changed");
    }
    if allowed != *new && kept {
        errors.push(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`, \
             `spec.initContainers[*].image` and `spec.tolerations` (only additions to existing \
             tolerations): field is immutable",
        );
    }
}

/// Checks a Pod spec; `path` is its JSON path (`spec`, `spec.template.spec`).
pub fn validate_spec(spec: &PodSpec, path: &str, errors: &mut FieldErrors) {
    if spec.containers.is_empty() {
        errors.push(format!("{path}.containers"), "at least one container is required");
    }
    let volume_names = volumes(&spec.volumes, path, errors);
    let mut names = HashSet::new();
    for (list, containers) in
        [("initContainers", &spec.init_containers), ("containers", &spec.containers)]
    {
        for (i, c) in containers.iter().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            container(c, &p, errors);
            volume_mounts(c, &p, &volume_names, errors);
            if !names.insert(c.name.as_str()) {
                errors.push(format!("{p}.name"), format!("duplicate container name {:?}", c.name));
            }
        }
    }
    if let Some(node) = &spec.node_name {
        if let Err(e) = dns1123_subdomain(node) {
            errors.push(format!("{path}.nodeName"), e);
        }
    }
    labels(&spec.node_selector, &format!("{path}.nodeSelector"), errors);
    if spec.termination_grace_period_seconds.is_some_and(|s| s < 0) {
        errors.push(
            format!("{path}.terminationGracePeriodSeconds"),
            "must be greater than or equal to 0",
        );
    }
    for (i, t) in spec.tolerations.iter().enumerate() {
        let op = t.operator.as_deref().unwrap_or("Equal");
        if op != "Equal" && op != "Exists" {
            errors.push(format!("{path}.tolerations[{i}].operator"), "must be Equal or Exists");
        }
        if op == "Exists" && t.value.as_deref().is_some_and(|v| !v.is_empty()) {
            errors.push(
                format!("{path}.tolerations[{i}].value"),
                "must be empty when operator is Exists",
            );
        }
        if let Some(effect) = &t.effect {
            if !matches!(effect.as_str(), "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
                errors.push(
                    format!("{path}.tolerations[{i}].effect"),
                    "must be NoSchedule, PreferNoSchedule or NoExecute",
                );
            }
        }
    }
    for (i, c) in spec.topology_spread_constraints.iter().enumerate() {
        if c.max_skew < 1 {
            errors.push(
                format!("{path}.topologySpreadConstraints[{i}].maxSkew"),
                "must be greater than 0",
            );
        }
        if !matches!(c.when_unsatisfiable.as_str(), "DoNotSchedule" | "ScheduleAnyway") {
            errors.push(
                format!("{path}.topologySpreadConstraints[{i}].whenUnsatisfiable"),
                "must be DoNotSchedule or ScheduleAnyway",
            );
        }
    }
}

/// Kubernetes' message for a file mode out of range.
const FILE_MODE_RULE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn file_mode(mode: Option<i32>, path: String, errors: &mut FieldErrors) {
    if mode.is_some_and(|m| !(0..=0o777).contains(&m)) {
        errors.push(path, FILE_MODE_RULE);
    }
}

/// apimachinery's `validateLocalDescendingPath`: relative, no `..` element.
fn local_descending_path(p: &str, path: &str, errors: &mut FieldErrors) {
    if p.starts_with('/') {
        errors.push(path.to_owned(), "must be a relative path");
    }
    if p.split('/').any(|element| element == "..") {
        errors.push(path.to_owned(), "must not contain '..'");
    }
}

/// Kubernetes' `ValidateLocalNonReservedPath`: a local descending path that
/// does not start with `..` (the atomic writer's own names).
fn local_non_reserved_path(p: &str, path: &str, errors: &mut FieldErrors) {
    local_descending_path(p, path, errors);
    if p.starts_with("..") {
        errors.push(path.to_owned(), "must not start with '..'");
    }
}

fn key_to_path(items: &[KeyToPath], path: &str, errors: &mut FieldErrors) {
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}.items[{i}]");
        if item.key.is_empty() {
            errors.push(format!("{at}.key"), "required");
        }
        if item.path.is_empty() {
            errors.push(format!("{at}.path"), "required");
        }
        local_non_reserved_path(&item.path, &format!("{at}.path"), errors);
        file_mode(item.mode, format!("{at}.mode"), errors);
    }
}

/// Checks the volumes as Kubernetes' `ValidateVolumes`; returns their names.
fn volumes<'a>(volumes: &'a [Volume], path: &str, errors: &mut FieldErrors) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let at = format!("{path}.volumes[{i}]");
        if let Err(e) = dns1123_label(&v.name) {
            errors.push(format!("{at}.name"), e);
        } else if !names.insert(v.name.as_str()) {
            errors.push(format!("{at}.name"), format!("duplicate volume name {:?}", v.name));
        }
        let sources = usize::from(v.config_map.is_some())
            + usize::from(v.secret.is_some())
            + usize::from(v.empty_dir.is_some());
        match sources {
            0 => errors.push(
                at.clone(),
                "must specify a volume type (orch supports configMap, secret, emptyDir)",
            ),
            1 => {}
            _ => errors.push(at.clone(), "may not specify more than 1 volume type"),
        }
        if let Some(cm) = &v.config_map {
            if cm.name.is_empty() {
                errors.push(format!("{at}.configMap.name"), "required");
            }
            file_mode(cm.default_mode, format!("{at}.configMap.defaultMode"), errors);
            key_to_path(&cm.items, &format!("{at}.configMap"), errors);
        }
        if let Some(secret) = &v.secret {
            if secret.secret_name.is_empty() {
                errors.push(format!("{at}.secret.secretName"), "required");
            }
            file_mode(secret.default_mode, format!("{at}.secret.defaultMode"), errors);
            key_to_path(&secret.items, &format!("{at}.secret"), errors);
        }
    }
    names
}

/// Checks a container's volume mounts as Kubernetes' `ValidateVolumeMounts`.
fn volume_mounts(c: &Container, path: &str, volumes: &HashSet<&str>, errors: &mut FieldErrors) {
    let mut mount_paths = HashSet::new();
    for (i, m) in c.volume_mounts.iter().enumerate() {
        let at = format!("{path}.volumeMounts[{i}]");
        if m.name.is_empty() {
            errors.push(format!("{at}.name"), "required");
        } else if !volumes.contains(m.name.as_str()) {
            errors.push(
                format!("{at}.name"),
                format!("not found: no volume {:?} in the Pod", m.name),
            );
        }
        if m.mount_path.is_empty() {
            errors.push(format!("{at}.mountPath"), "required");
        } else if !mount_paths.insert(m.mount_path.as_str()) {
            errors.push(format!("{at}.mountPath"), "must be unique");
        }
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            local_descending_path(sub, &format!("{at}.subPath"), errors);
        }
    }
}

fn probe(p: &Probe, path: &str, errors: &mut FieldErrors) {
    let handlers = usize::from(p.exec.is_some())
        + usize::from(p.http_get.is_some())
        + usize::from(p.tcp_socket.is_some());
    if handlers != 1 {
        errors.push(path.to_owned(), "must specify exactly one of exec, httpGet, tcpSocket");
    }
    for (name, v, min) in [
        ("initialDelaySeconds", p.initial_delay_seconds, 0),
        ("periodSeconds", p.period_seconds, 1),
        ("timeoutSeconds", p.timeout_seconds, 1),
        ("successThreshold", p.success_threshold, 1),
        ("failureThreshold", p.failure_threshold, 1),
    ] {
        if v.is_some_and(|v| v < min) {
            errors.push(format!("{path}.{name}"), format!("must be at least {min}"));
        }
    }
}

/// What Kubernetes requires of an environment variable's name.
pub const ENV_VAR_NAME_RULE: &str =
    "a valid environment variable name must consist only of printable ASCII characters other than '='";

/// Whether `name` is a valid environment variable name: not empty, printable
/// ASCII but `=` (apimachinery's `IsRelaxedEnvVarName`, the rule of the
/// `RelaxedEnvironmentVariableValidation` gate).
pub fn is_env_var_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| (' '..='~').contains(&c) && c != '=')
}

fn lifecycle_handler(h: &LifecycleHandler, path: &str, errors: &mut FieldErrors) {
    let handlers = usize::from(h.exec.is_some())
        + usize::from(h.http_get.is_some())
        + usize::from(h.tcp_socket.is_some())
        + usize::from(h.sleep.is_some());
    if handlers != 1 {
        errors.push(path.to_owned(), "must specify exactly one of exec, httpGet, tcpSocket, sleep");
    }
    if h.sleep.as_ref().is_some_and(|s| s.seconds < 0) {
        errors.push(format!("{path}.sleep.seconds"), "must be greater than or equal to 0");
    }
}

fn container(c: &Container, path: &str, errors: &mut FieldErrors) {
    if let Err(e) = dns1123_label(&c.name) {
        errors.push(format!("{path}.name"), e);
    }
    if c.image.trim().is_empty() {
        errors.push(format!("{path}.image"), "required");
    }
    for (i, p) in c.ports.iter().enumerate() {
        if !(1..=65535).contains(&p.container_port) {
            errors.push(format!("{path}.ports[{i}].containerPort"), "must be between 1 and 65535");
        }
        if p.host_port.is_some_and(|h| !(0..=65535).contains(&h)) {
            errors.push(format!("{path}.ports[{i}].hostPort"), "must be between 0 and 65535");
        }
    }
    for (i, e) in c.env.iter().enumerate() {
        if e.name.is_empty() {
            errors.push(format!("{path}.env[{i}].name"), "required");
        }
        if let Some(from) = &e.value_from {
            let sources = usize::from(from.config_map_key_ref.is_some())
                + usize::from(from.secret_key_ref.is_some())
                + usize::from(from.field_ref.is_some());
            if sources != 1 || e.value.is_some() {
                errors.push(
                    format!("{path}.env[{i}].valueFrom"),
                    "must specify exactly one source, and no value",
                );
            }
        }
    }
    for (i, e) in c.env_from.iter().enumerate() {
        let at = format!("{path}.envFrom[{i}]");
        if usize::from(e.config_map_ref.is_some()) + usize::from(e.secret_ref.is_some()) != 1 {
            errors.push(at.clone(), "must specify exactly one of configMapRef, secretRef");
        }
        if let Some(prefix) = e.prefix.as_deref().filter(|p| !p.is_empty()) {
            if !is_env_var_name(prefix) {
                errors.push(format!("{at}.prefix"), ENV_VAR_NAME_RULE);
            }
        }
    }
    if let Some(r) = &c.resources {
        quantities(&r.requests, &format!("{path}.resources.requests"), errors);
        quantities(&r.limits, &format!("{path}.resources.limits"), errors);
        for (name, req) in &r.requests {
            if let (Some(limit), Ok(req)) = (r.limits.get(name), req.as_millis()) {
                if limit.as_millis().is_ok_and(|l| l < req) {
                    errors.push(
                        format!("{path}.resources.requests.{name}"),
                        "must be less than or equal to the limit",
                    );
                }
            }
        }
    }
    if let Some(l) = &c.lifecycle {
        for (name, h) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
            if let Some(h) = h {
                lifecycle_handler(h, &format!("{path}.lifecycle.{name}"), errors);
            }
        }
    }
    for (name, p) in [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ] {
        if let Some(p) = p {
            probe(p, &format!("{path}.{name}"), errors);
        }
    }
}
