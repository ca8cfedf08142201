//! The RBAC kinds from protobuf, as `kubectl create role`, `clusterrole`,
//! `rolebinding` and `clusterrolebinding` send them: read whole, but for
//! an aggregated ClusterRole's `aggregationRule` (orch does not aggregate
//! roles), which is refused with a 415.

use k8s_pb::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde_json::{json, Value};

use super::meta;
use super::objects::{unread, IsSet, Obj};
use crate::status::Status;

fn rules(rules: Vec<PolicyRule>) -> Value {
    let rules = rules.into_iter().map(|r| {
        let PolicyRule { verbs, api_groups, resources, resource_names, non_resource_ur_ls } = r;
        Obj::default()
            .put("verbs", json!(verbs))
            .put("apiGroups", json!(api_groups))
            .put("resources", json!(resources))
            .put("resourceNames", json!(resource_names))
            .put("nonResourceURLs", json!(non_resource_ur_ls))
            .done()
    });
    Value::Array(rules.collect())
}

fn subjects(subjects: Vec<Subject>) -> Value {
    let subjects = subjects.into_iter().map(|s| {
        let Subject { kind, api_group, name, namespace } = s;
        Obj::default()
            .put("kind", json!(kind))
            .put("apiGroup", json!(api_group))
            .put("name", json!(name))
            .put("namespace", json!(namespace))
            .done()
    });
    Value::Array(subjects.collect())
}

fn role_ref(r: Option<RoleRef>) -> Value {
    let RoleRef { api_group, kind, name } = r.unwrap_or_default();
    Obj::default()
        .put("apiGroup", json!(api_group))
        .put("kind", json!(kind))
        .put("name", json!(name))
        .done()
}

/// A Role.
pub fn role(r: Role) -> Value {
    let Role { metadata, rules: r } = r;
    Obj::default().put("metadata", meta(metadata.unwrap_or_default())).put("rules", rules(r)).done()
}

/// A ClusterRole.
///
/// Errors: a 415 for an `aggregationRule`.
pub fn cluster_role(r: ClusterRole) -> Result<Value, Status> {
    let ClusterRole { metadata, rules: r, aggregation_rule } = r;
    unread("ClusterRole", &[("aggregationRule", aggregation_rule.is_set())])?;
    Ok(Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("rules", rules(r))
        .done())
}

/// A RoleBinding.
pub fn role_binding(b: RoleBinding) -> Value {
    let RoleBinding { metadata, subjects: s, role_ref: r } = b;
    Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("subjects", subjects(s))
        .put("roleRef", role_ref(r))
        .done()
}

/// A ClusterRoleBinding.
pub fn cluster_role_binding(b: ClusterRoleBinding) -> Value {
    let ClusterRoleBinding { metadata, subjects: s, role_ref: r } = b;
    Obj::default()
        .put("metadata", meta(metadata.unwrap_or_default()))
        .put("subjects", subjects(s))
        .put("roleRef", role_ref(r))
        .done()
}
