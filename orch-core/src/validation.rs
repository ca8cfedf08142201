//! Validation as Kubernetes does it: DNS-1123 names, label and annotation
//! syntax, object metadata, and the helpers the per-kind checks build on.
//!
//! The per-kind checks live with their kinds
//! ([`kinds::pod::validate`](crate::kinds::pod::validate) and so on for
//! ReplicaSet, Deployment and Node) and are re-exported here as [`pod`],
//! [`pod_spec`], [`replica_set`], [`deployment`] and [`node`].
//!
//! Checks collect [`FieldErrors`]: each names the JSON path of the field
//! (`metadata.labels["app"]`, `spec.containers[0].name`) and what is wrong.

use std::collections::BTreeMap;

use crate::meta::ObjectMeta;
use crate::quantity::Quantity;
use crate::Error;

// The per-kind rules, from their kinds (see the module docs).
pub use crate::kinds::deployment::validate as deployment;
pub use crate::kinds::node::validate as node;
pub use crate::kinds::pod::validate as pod;
pub use crate::kinds::pod::validate_spec as pod_spec;
pub use crate::kinds::replica_set::validate as replica_set;

/// Largest serialized object the Api stores: 1.5 MiB, etcd's default
/// request limit, as Kubernetes.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// Largest total size of an object's annotations (keys plus values): 256 KiB.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Kubernetes' reason for a field an update may not change.
pub const IMMUTABLE: &str = "field is immutable";
/// Kubernetes' reason for the data of an `immutable: true` ConfigMap or
/// Secret.
pub const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

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

/// A name that is one URL path segment (Kubernetes'
/// `ValidatePathSegmentName`, the rule of RBAC objects' names such as
/// `system:node`): not empty, not `.` or `..`, no `/` or `%`.
///
/// Errors: a sentence saying what is wrong.
pub fn path_segment_name(s: &str) -> Result<(), String> {
    match s {
        "" => Err("must not be empty".into()),
        "." | ".." => Err(format!("{s:?} may not be '.' or '..'")),
        _ if s.contains('/') || s.contains('%') => Err(format!("{s:?} may not contain '/' or '%'")),
        _ => Ok(()),
    }
}

/// Checks metadata: the name (a DNS-1123 subdomain; a path segment in the
/// `rbac.authorization.k8s.io` group, as Kubernetes), namespace, labels,
/// annotations, owner references and finalizers.
pub fn object_meta(meta: &ObjectMeta, group: &str, namespaced: bool, errors: &mut FieldErrors) {
    let name_rule = match group {
        "rbac.authorization.k8s.io" => path_segment_name,
        _ => dns1123_subdomain,
    };
    if let Err(e) = name_rule(&meta.name) {
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

/// Checks that each quantity of a resource map (`requests`, `capacity`) parses
/// and is not negative.
pub(crate) fn quantities(map: &BTreeMap<String, Quantity>, path: &str, errors: &mut FieldErrors) {
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
        assert!(path_segment_name("system:node").is_ok());
        for bad in ["", ".", "..", "a/b", "50%"] {
            assert!(path_segment_name(bad).is_err(), "{bad:?}");
        }
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
