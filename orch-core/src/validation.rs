//! Validation as Kubernetes does it: DNS-1123 names, label and annotation
//! syntax, and the per-kind checks the built-in kinds need.
//!
//! Checks collect [`FieldErrors`]: each names the JSON path of the field
//! (`metadata.labels["app"]`, `spec.containers[0].name`) and what is wrong.

use std::collections::{BTreeMap, HashSet};

use crate::kinds::deployment::DeploymentSpec;
use crate::kinds::pod::{Container, PodSpec, Probe};
use crate::meta::ObjectMeta;
use crate::quantity::Quantity;
use crate::selector::LabelSelector;
use crate::{Deployment, Error, Node, Pod, ReplicaSet};

/// Largest serialized object the Api stores: 1.5 MiB, etcd's default
/// request limit, as Kubernetes.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// Largest total size of an object's annotations (keys plus values): 256 KiB.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Field errors found while validating one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(String, String)>);

impl FieldErrors {
    /// Records that `field` is invalid for `reason`.
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push((field.into(), reason.into()));
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` if empty, else [`Error::Invalid`] for `object`, naming the first
    /// field and listing the rest in the reason.
    pub fn into_result(self, object: &str) -> Result<(), Error> {
        let mut errors = self.0.into_iter();
        let Some((field, reason)) = errors.next() else {
            return Ok(());
        };
        let rest: Vec<String> = errors.map(|(f, r)| format!("{f}: {r}")).collect();
        let reason = if rest.is_empty() {
            reason
        } else {
            format!("{reason} (and {}: {})", rest.len(), rest.join("; "))
        };
        Err(Error::Invalid { object: object.to_owned(), field, reason })
    }
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn length_within(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > max {
        return Err(format!("must be no more than {max} characters (is {})", s.len()));
    }
    Ok(())
}

/// Lower-case alphanumerics or '-', starting and ending with an alphanumeric.
fn label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|&c| is_alnum(c) || c == b'-')
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
}

/// A DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and
/// ending with an alphanumeric. Namespaces and container names are labels.
///
/// Errors: a sentence saying what is wrong.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    length_within(s, 63)?;
    if !label_chars(s) {
        return Err(format!(
            "{s:?} must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated parts each
/// spelled as a DNS-1123 label. Most object names are subdomains.
///
/// Errors: a sentence saying what is wrong.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    length_within(s, 253)?;
    if !s.split('.').all(label_chars) {
        return Err(format!(
            "{s:?} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A "qualified name" part of a label key: at most 63 alphanumerics (either
/// case), '-', '_' or '.', starting and ending with an alphanumeric.
fn qualified_name_part(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("name part must not be empty".into());
    }
    if s.len() > 63 {
        return Err(format!("name part must be no more than 63 characters (is {})", s.len()));
    }
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    if !b.iter().all(|&c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
        || !alnum(b[0])
        || !alnum(b[b.len() - 1])
    {
        return Err(format!(
            "name part {s:?} must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A label or annotation key: an optional DNS-1123 subdomain prefix and '/',
/// then a name part of at most 63 characters.
///
/// Errors: a sentence saying what is wrong.
pub fn label_key(key: &str) -> Result<(), String> {
    match key.split_once('/') {
        Some((prefix, name)) => {
            dns1123_subdomain(prefix).map_err(|e| format!("prefix {e}"))?;
            qualified_name_part(name)
        }
        None => qualified_name_part(key),
    }
}

/// A label value: empty, or at most 63 alphanumerics, '-', '_' or '.',
/// starting and ending with an alphanumeric.
///
/// Errors: a sentence saying what is wrong.
pub fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    qualified_name_part(value).map_err(|e| e.replacen("name part", "value", 1))
}

/// Checks metadata: name (a subdomain unless `name_is_label`), namespace,
/// labels, annotations, owner references and finalizers.
pub fn object_meta(meta: &ObjectMeta, namespaced: bool, errors: &mut FieldErrors) {
    if let Err(e) = dns1123_subdomain(&meta.name) {
        errors.push("metadata.name", e);
    }
    if namespaced {
        if let Err(e) = dns1123_label(&meta.namespace) {
            errors.push("metadata.namespace", e);
        }
    } else if !meta.namespace.is_empty() {
        errors.push("metadata.namespace", "not allowed on a cluster-scoped kind");
    }
    labels(&meta.labels, "metadata.labels", errors);
    let mut annotation_bytes = 0;
    for (k, v) in &meta.annotations {
        if let Err(e) = label_key(k) {
            errors.push(format!("metadata.annotations[{k:?}]"), e);
        }
        annotation_bytes += k.len() + v.len();
    }
    if annotation_bytes > MAX_ANNOTATIONS_BYTES {
        errors.push(
            "metadata.annotations",
            format!("total size {annotation_bytes} bytes exceeds {MAX_ANNOTATIONS_BYTES} bytes"),
        );
    }
    for (i, o) in meta.owner_references.iter().enumerate() {
        if o.name.is_empty() || o.uid.is_empty() || o.kind.is_empty() || o.api_version.is_empty() {
            errors.push(
                format!("metadata.ownerReferences[{i}]"),
                "apiVersion, kind, name and uid are required",
            );
        }
    }
    if meta.owner_references.iter().filter(|o| o.controller == Some(true)).count() > 1 {
        errors
            .push("metadata.ownerReferences", "only one reference can have controller set to true");
    }
    for (i, f) in meta.finalizers.iter().enumerate() {
        if let Err(e) = label_key(f) {
            errors.push(format!("metadata.finalizers[{i}]"), e);
        }
    }
}

/// Checks a label map's keys and values.
pub fn labels(labels: &BTreeMap<String, String>, path: &str, errors: &mut FieldErrors) {
    for (k, v) in labels {
        if let Err(e) = label_key(k) {
            errors.push(format!("{path}[{k:?}]"), format!("key: {e}"));
        }
        if let Err(e) = label_value(v) {
            errors.push(format!("{path}[{k:?}]"), e);
        }
    }
}

fn quantities(map: &BTreeMap<String, Quantity>, path: &str, errors: &mut FieldErrors) {
    for (name, q) in map {
        match q.as_millis() {
            Err(e) => errors.push(format!("{path}.{name}"), e.to_string()),
            Ok(m) if m < 0 => {
                errors.push(format!("{path}.{name}"), "must be greater than or equal to 0")
            }
            Ok(_) => {}
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

/// Checks a Pod spec; `path` is its JSON path (`spec`, `spec.template.spec`).
pub fn pod_spec(spec: &PodSpec, path: &str, errors: &mut FieldErrors) {
    if spec.containers.is_empty() {
        errors.push(format!("{path}.containers"), "at least one container is required");
    }
    let mut names = HashSet::new();
    for (list, containers) in
        [("initContainers", &spec.init_containers), ("containers", &spec.containers)]
    {
        for (i, c) in containers.iter().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            container(c, &p, errors);
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

fn workload(
    replicas: Option<i32>,
    selector: &crate::meta::LabelSelector,
    template_labels: &BTreeMap<String, String>,
    template_spec: &PodSpec,
    errors: &mut FieldErrors,
) {
    if replicas.is_some_and(|r| r < 0) {
        errors.push("spec.replicas", "must be greater than or equal to 0");
    }
    labels(template_labels, "spec.template.metadata.labels", errors);
    match LabelSelector::from_object(selector) {
        Err(e) => errors.push("spec.selector", e.to_string()),
        Ok(s) if s.is_empty() => {
            errors.push("spec.selector", "empty selector is invalid for a workload")
        }
        Ok(s) if !s.matches(template_labels) => errors
            .push("spec.template.metadata.labels", "`selector` does not match template `labels`"),
        Ok(_) => {}
    }
    pod_spec(template_spec, "spec.template.spec", errors);
}

/// The Pod rules beyond metadata; run by the Api on create and update.
pub fn pod(obj: &Pod, errors: &mut FieldErrors) {
    pod_spec(&obj.spec, "spec", errors);
}

/// The ReplicaSet rules beyond metadata; run by the Api on create and update.
pub fn replica_set(obj: &ReplicaSet, errors: &mut FieldErrors) {
    let s = &obj.spec;
    workload(s.replicas, &s.selector, &s.template.metadata.labels, &s.template.spec, errors);
}

/// The Deployment rules beyond metadata; run by the Api on create and update.
pub fn deployment(obj: &Deployment, errors: &mut FieldErrors) {
    let s: &DeploymentSpec = &obj.spec;
    workload(s.replicas, &s.selector, &s.template.metadata.labels, &s.template.spec, errors);
    if let Some(ru) = s.strategy.as_ref().and_then(|st| st.rolling_update.as_ref()) {
        let desired = s.replicas();
        let surge = ru.max_surge.as_ref().map(|v| v.scaled_value(desired, true));
        let unavailable = ru.max_unavailable.as_ref().map(|v| v.scaled_value(desired, false));
        if let Some(Err(e)) = &surge {
            errors.push("spec.strategy.rollingUpdate.maxSurge", e.to_string());
        }
        if let Some(Err(e)) = &unavailable {
            errors.push("spec.strategy.rollingUpdate.maxUnavailable", e.to_string());
        }
        if let (Some(Ok(0)), Some(Ok(0))) = (&surge, &unavailable) {
            errors.push(
                "spec.strategy.rollingUpdate.maxUnavailable",
                "may not be 0 when maxSurge is 0",
            );
        }
    }
    if s.progress_deadline_seconds.is_some_and(|p| p <= s.min_ready_seconds.unwrap_or(0)) {
        errors.push("spec.progressDeadlineSeconds", "must be greater than minReadySeconds");
    }
}

/// The Node rules beyond metadata; run by the Api on create and update.
pub fn node(obj: &Node, errors: &mut FieldErrors) {
    for (i, t) in obj.spec.taints.iter().enumerate() {
        if let Err(e) = label_key(&t.key) {
            errors.push(format!("spec.taints[{i}].key"), e);
        }
        if !matches!(t.effect.as_str(), "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errors.push(
                format!("spec.taints[{i}].effect"),
                "must be NoSchedule, PreferNoSchedule or NoExecute",
            );
        }
    }
    if let Some(status) = &obj.status {
        quantities(&status.capacity, "status.capacity", errors);
        quantities(&status.allocatable, "status.allocatable", errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns1123() {
        assert!(dns1123_subdomain("web-0.example").is_ok());
        assert!(dns1123_subdomain("Web").is_err());
        assert!(dns1123_subdomain("-web").is_err());
        assert!(dns1123_subdomain("web..x").is_err());
        assert!(dns1123_subdomain(&"a".repeat(254)).is_err());
        assert!(dns1123_label("default").is_ok());
        assert!(dns1123_label("a.b").is_err());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn label_syntax_follows_kubernetes() {
        assert!(label_key("app").is_ok());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("Team_A.x").is_ok());
        assert!(label_key("bad/").is_err());
        assert!(label_key("/x").is_err());
        assert!(label_key("UPPER.example/x").is_err());
        assert!(label_key("a/b/c").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x-y").is_ok());
        assert!(label_value("has space").is_err());
        assert!(label_value(&"v".repeat(64)).is_err());
    }

    #[test]
    fn field_errors_name_the_object_and_field() {
        let mut errors = FieldErrors::default();
        errors.push("spec.replicas", "must be greater than or equal to 0");
        errors.push("metadata.name", "must not be empty");
        match errors.into_result("deployments/default/web") {
            Err(Error::Invalid { object, field, reason }) => {
                assert_eq!(object, "deployments/default/web");
                assert_eq!(field, "spec.replicas");
                assert!(reason.contains("metadata.name"));
            }
            other => panic!("{other:?}"),
        }
    }
}
