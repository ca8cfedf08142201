//! Authorization as kube-apiserver's RBAC authorizer: a request (user,
//! verb, API group, resource, subresource, namespace, name) is allowed if
//! a ClusterRoleBinding grants a ClusterRole with a matching rule, or a
//! RoleBinding in the request's namespace grants a Role or ClusterRole
//! with one. The group `system:masters` is allowed everything (as
//! kube-apiserver's built-in superuser group); requests outside the
//! resource API (discovery, `/version`) are allowed to every
//! authenticated user (the `system:discovery` role). A refusal is a 403
//! with kube-apiserver's message.
//!
//! Roles and bindings are read from the store on each check (correct, not
//! fast: an informer cache is the next step).

use std::sync::Arc;

use orch_core::api::ListParams;
use orch_core::kinds::rbac::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use orch_core::store::Store;
use orch_core::Api;
use serde_json::json;

use crate::authn::User;
use crate::status::Status;

/// What a request asks to do (Kubernetes' authorizer attributes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// `""` for core.
    pub group: String,
    /// The plural, e.g. `pods`; empty for a non-resource request.
    pub resource: String,
    /// e.g. `log`, `status`, `scale`; empty for none.
    pub subresource: String,
    /// The namespace; empty for cluster scope.
    pub namespace: String,
    /// The object's name; empty for a collection.
    pub name: String,
    /// For a create by a node, the name in the body: NodeRestriction reads
    /// it (a node creates only its own Node), RBAC does not (resourceNames
    /// never match a create, as in Kubernetes).
    pub created_name: String,
}

/// The decision and why (for a SelfSubjectAccessReview's `reason`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Which binding allowed it, or nothing.
    pub reason: String,
}

/// The RBAC authorizer over a store's roles and bindings.
#[derive(Clone)]
pub struct Rbac {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Rbac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rbac").finish_non_exhaustive()
    }
}

fn holds(subjects: &[Subject], user: &User) -> bool {
    subjects.iter().any(|s| match s.kind.as_str() {
        "User" => s.name == user.name,
        "Group" => user.groups.contains(&s.name),
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().unwrap_or("");
            user.name == format!("system:serviceaccount:{ns}:{}", s.name)
        }
        _ => false,
    })
}

fn matches(rule: &PolicyRule, a: &Attributes) -> bool {
    let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
    let resource = match a.subresource.as_str() {
        "" => a.resource.clone(),
        sub => format!("{}/{sub}", a.resource),
    };
    any(&rule.verbs, &a.verb)
        && any(&rule.api_groups, &a.group)
        && (rule.resources.iter().any(|r| {
            r == "*"
                || *r == resource
                || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
        }))
        && (rule.resource_names.is_empty() || rule.resource_names.contains(&a.name))
}

impl Rbac {
    /// The authorizer of the roles and bindings in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Rbac { store }
    }

    /// May `user` do `attributes`?
    ///
    /// Errors: a 500 Status if the roles cannot be read.
    pub async fn decide(&self, user: &User, a: &Attributes) -> Result<Decision, Status> {
        let allow = |reason: String| Ok(Decision { allowed: true, reason });
        if user.groups.iter().any(|g| g == "system:masters") {
            return allow("the system:masters group may do everything".into());
        }
        if let Some(node) = node_of(user) {
            if let Some(refusal) = self.node_restriction(node, a).await? {
                return Err(refusal);
            }
        }
        if a.resource.is_empty() {
            return Ok(Decision {
                allowed: user.groups.iter().any(|g| g == "system:authenticated"),
                reason: "system:discovery".into(),
            });
        }
        let read = |e: orch_core::Error| Status::internal(format!("reading RBAC: {e}"));
        let cluster_roles: Api<ClusterRole> = Api::all(self.store.clone());
        let bindings: Api<ClusterRoleBinding> = Api::all(self.store.clone());
        for b in bindings.list(&ListParams::default()).await.map_err(read)?.items {
            if b.role_ref.kind != "ClusterRole" || !holds(&b.subjects, user) {
                continue;
            }
            if let Some(role) = cluster_roles.get_opt(&b.role_ref.name).await.map_err(read)? {
                if role.rules.iter().any(|r| matches(r, a)) {
                    return allow(format!(
                        "RBAC: allowed by ClusterRoleBinding {:?} of ClusterRole {:?}",
                        b.metadata.name, role.metadata.name
                    ));
                }
            }
        }
        if !a.namespace.is_empty() {
            let bindings: Api<RoleBinding> = Api::namespaced(self.store.clone(), &a.namespace);
            let roles: Api<Role> = Api::namespaced(self.store.clone(), &a.namespace);
            for b in bindings.list(&ListParams::default()).await.map_err(read)?.items {
                if !holds(&b.subjects, user) {
                    continue;
                }
                let rules = match b.role_ref.kind.as_str() {
                    "Role" => roles.get_opt(&b.role_ref.name).await.map_err(read)?.map(|r| r.rules),
                    "ClusterRole" => cluster_roles
                        .get_opt(&b.role_ref.name)
                        .await
                        .map_err(read)?
                        .map(|r| r.rules),
                    _ => None,
                };
                if rules.unwrap_or_default().iter().any(|r| matches(r, a)) {
                    return allow(format!(
                        "RBAC: allowed by RoleBinding \"{}/{}\" of {} {:?}",
                        a.namespace, b.metadata.name, b.role_ref.kind, b.role_ref.name
                    ));
                }
            }
        }
        Ok(Decision { allowed: false, reason: String::new() })
    }
}

/// The node a node agent's credential names: `system:node:<name>` in
/// `system:nodes`.
pub(crate) fn node_of(user: &User) -> Option<&str> {
    let name = user.name.strip_prefix("system:node:")?;
    user.groups.iter().any(|g| g == "system:nodes").then_some(name)
}

const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

impl Rbac {
    /// kube-apiserver's NodeRestriction: a node writes only its own Node,
    /// its own Lease in `kube-node-lease`, and the status of the pods bound
    /// to it. `Some(403)` for a write outside those.
    async fn node_restriction(&self, node: &str, a: &Attributes) -> Result<Option<Status>, Status> {
        if !WRITES.contains(&a.verb.as_str()) {
            return Ok(None);
        }
        let refuse = |what: String| {
            Some(Status {
                code: 403,
                reason: "Forbidden",
                message: format!("node {node:?} is not allowed to modify {what}"),
                details: None,
            })
        };
        // A create names its object in the body, the others in the URL.
        let target = if a.verb == "create" { &a.created_name } else { &a.name };
        Ok(match (a.group.as_str(), a.resource.as_str()) {
            ("", "nodes") if target != node => refuse(format!("node {target:?}")),
            ("coordination.k8s.io", "leases")
                if a.namespace != "kube-node-lease" || target != node =>
            {
                refuse(format!("lease {}/{target}", a.namespace))
            }
            ("", "pods") if a.subresource == "status" => {
                let pods: Api<orch_core::Pod> = Api::namespaced(self.store.clone(), &a.namespace);
                let pod = pods
                    .get_opt(&a.name)
                    .await
                    .map_err(|e| Status::internal(format!("reading pod {}: {e}", a.name)))?;
                match pod.and_then(|p| p.spec.node_name) {
                    Some(n) if n == node => None,
                    _ => refuse(format!("the status of pod {}/{}", a.namespace, a.name)),
                }
            }
            _ => None,
        })
    }

    /// Creates kube-apiserver's bootstrap roles where they are missing (see
    /// [`bootstrap_policy`]); existing ones are left as they are.
    ///
    /// Errors: a message if the store refuses a write.
    pub async fn bootstrap(&self) -> Result<(), String> {
        let (roles, bindings) = bootstrap_policy();
        create_missing(&Api::all(self.store.clone()), roles).await?;
        create_missing(&Api::all(self.store.clone()), bindings).await
    }
}

/// Creates each of `objects` unless one of its name exists.
async fn create_missing<K: orch_core::Resource>(
    api: &Api<K>,
    objects: Vec<K>,
) -> Result<(), String> {
    for o in objects {
        match api.create(&o).await {
            Ok(_) | Err(orch_core::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// kube-apiserver's bootstrap policy, as far as orch's components need it:
/// `cluster-admin` (everything, bound to `system:masters`),
/// `system:kube-scheduler` (to user `system:kube-scheduler`),
/// `system:kube-controller-manager` (to user
/// `system:kube-controller-manager`) and `system:node` (to group
/// `system:nodes`, narrowed to a node's own objects by the node
/// restriction).
pub fn bootstrap_policy() -> (Vec<ClusterRole>, Vec<ClusterRoleBinding>) {
    use orch_core::kinds::rbac::RoleRef;
    let rule = |verbs: &[&str], groups: &[&str], resources: &[&str]| {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..Default::default()
        }
    };
    let read = ["get", "list", "watch"];
    let write = ["get", "list", "watch", "create", "update", "patch", "delete"];
    let role = |name: &str, rules: Vec<PolicyRule>| ClusterRole {
        metadata: orch_core::ObjectMeta::named(name),
        rules,
        ..Default::default()
    };
    let roles = vec![
        role("cluster-admin", vec![rule(&["*"], &["*"], &["*"])]),
        role(
            "system:kube-scheduler",
            vec![
                rule(&read, &[""], &["pods", "nodes", "namespaces"]),
                rule(&["create"], &[""], &["pods/binding"]),
                rule(&["update", "patch"], &[""], &["pods/status"]),
                rule(&["delete"], &[""], &["pods"]),
                rule(&["create", "patch", "update"], &[""], &["events"]),
                rule(&write, &["coordination.k8s.io"], &["leases"]),
            ],
        ),
        role(
            "system:kube-controller-manager",
            vec![
                rule(&write, &["", "apps"], &["pods", "replicasets", "deployments", "events"]),
                rule(&write, &["batch"], &["jobs"]),
                rule(
                    &["update", "patch"],
                    &["", "apps", "batch"],
                    &[
                        "pods/status",
                        "replicasets/status",
                        "deployments/status",
                        "jobs/status",
                        "nodes/status",
                    ],
                ),
                rule(
                    &["get", "list", "watch", "update", "patch"],
                    &[""],
                    &["nodes", "configmaps", "secrets", "namespaces"],
                ),
                rule(&write, &["coordination.k8s.io"], &["leases"]),
            ],
        ),
        role(
            "system:node",
            vec![
                rule(&read, &[""], &["pods", "configmaps", "secrets", "services", "namespaces"]),
                rule(
                    &["get", "list", "watch", "create", "update", "patch"],
                    &[""],
                    &["nodes", "nodes/status"],
                ),
                rule(&["update", "patch"], &[""], &["pods/status"]),
                rule(&["delete"], &[""], &["pods"]),
                rule(&["create", "patch", "update"], &[""], &["events"]),
                rule(&["get", "create", "update", "patch"], &["coordination.k8s.io"], &["leases"]),
            ],
        ),
    ];
    let bind = |role: &str, kind: &str, subject: &str| ClusterRoleBinding {
        metadata: orch_core::ObjectMeta::named(role),
        subjects: vec![Subject {
            kind: kind.into(),
            name: subject.into(),
            namespace: None,
            api_group: Some("rbac.authorization.k8s.io".into()),
        }],
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        ..Default::default()
    };
    let bindings = vec![
        bind("cluster-admin", "Group", "system:masters"),
        bind("system:kube-scheduler", "User", "system:kube-scheduler"),
        bind("system:kube-controller-manager", "User", "system:kube-controller-manager"),
        bind("system:node", "Group", "system:nodes"),
    ];
    (roles, bindings)
}

/// kube-apiserver's 403: `pods "web" is forbidden: User "dev" cannot get
/// resource "pods" in API group "" in the namespace "default"`.
pub fn forbidden(user: &User, a: &Attributes) -> Status {
    let resource = match a.subresource.as_str() {
        "" => a.resource.clone(),
        sub => format!("{}/{sub}", a.resource),
    };
    let object = match (crate::status::qualified(&resource, &a.group), a.name.as_str()) {
        (q, "") => q,
        (q, n) => format!("{q} {n:?}"),
    };
    let scope = match a.namespace.as_str() {
        "" => "at the cluster scope".to_owned(),
        ns => format!("in the namespace {ns:?}"),
    };
    Status {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "{object} is forbidden: User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            user.name, a.verb, a.group
        ),
        details: Some(json!({"name": a.name, "group": a.group, "kind": a.resource})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..Default::default()
        }
    }

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: "default".into(),
            name: "web".into(),
            created_name: String::new(),
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_and_subresources() {
        let r = rule(&["get", "list"], &[""], &["pods"]);
        assert!(matches(&r, &attrs("get", "", "pods", "")));
        assert!(!matches(&r, &attrs("create", "", "pods", "")));
        assert!(!matches(&r, &attrs("get", "apps", "pods", "")));
        assert!(!matches(&r, &attrs("get", "", "pods", "log")), "pods/log is its own resource");
        assert!(matches(&rule(&["get"], &[""], &["pods/log"]), &attrs("get", "", "pods", "log")));
        assert!(matches(
            &rule(&["*"], &["*"], &["*"]),
            &attrs("delete", "apps", "deployments", "")
        ));
        let mut named = rule(&["get"], &[""], &["pods"]);
        named.resource_names = vec!["other".into()];
        assert!(!matches(&named, &attrs("get", "", "pods", "")));
    }

    #[test]
    fn the_forbidden_message_is_kube_apiservers() {
        let user = User::authenticated("dev", &[]);
        let mut a = attrs("create", "", "pods", "");
        a.name.clear();
        assert_eq!(
            forbidden(&user, &a).message,
            "pods is forbidden: User \"dev\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let nodes = Attributes {
            verb: "delete".into(),
            resource: "nodes".into(),
            name: "n1".into(),
            ..Default::default()
        };
        assert_eq!(
            forbidden(&user, &nodes).message,
            "nodes \"n1\" is forbidden: User \"dev\" cannot delete resource \"nodes\" in API group \"\" at the cluster scope"
        );
    }
}
