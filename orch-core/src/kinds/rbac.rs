//! RBAC (rbac.authorization.k8s.io/v1): Role and ClusterRole (rules of
//! verbs on resources), RoleBinding and ClusterRoleBinding (which users,
//! groups and service accounts hold a role, in one namespace or
//! everywhere). The API server's authorizer evaluates them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;

/// One rule: `verbs` on `resources` (`pods`, `pods/log`, `*`) of
/// `apiGroups` (`""` for core, `*`), limited to `resourceNames` if any;
/// or `verbs` on `nonResourceURLs` (`/healthz`, `/api/*`) in a ClusterRole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.rbac.v1.PolicyRule")]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or `*`.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// API groups; `""` is the core group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names; empty: every object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Paths outside the resource API.
    #[serde(default, rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

/// Who a binding grants its role to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.rbac.v1.Subject")]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// The user's, group's or service account's name.
    pub name: String,
    /// A ServiceAccount's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `rbac.authorization.k8s.io` for users and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
}

/// The role a binding grants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.rbac.v1.RoleRef")]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// `rbac.authorization.k8s.io`.
    #[serde(default)]
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

macro_rules! rbac_kind {
    ($(#[$doc:meta])* $ty:ident, $schema:literal, $kind:literal, $plural:literal, $namespaced:literal, { $($(#[$fdoc:meta])* $field:ident : $fty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[schemars(rename = $schema)]
        #[serde(rename_all = "camelCase")]
        pub struct $ty {
            /// `rbac.authorization.k8s.io/v1`.
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub api_version: String,
            /// The kind.
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub kind: String,
            /// Metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            $($(#[$fdoc])* #[serde(default)] pub $field: $fty,)*
        }

        crate::impl_resource!($ty {
            group: "rbac.authorization.k8s.io",
            version: "v1",
            kind: $kind,
            plural: $plural,
            namespaced: $namespaced,
            status_subresource: false,
        });
    };
}

rbac_kind!(
    /// A Role: rules within its namespace.
    Role, "io.k8s.api.rbac.v1.Role", "Role", "roles", true, {
        /// What it allows.
        rules: Vec<PolicyRule>,
    }
);

rbac_kind!(
    /// A ClusterRole: rules for cluster-scoped resources, every namespace
    /// (through a ClusterRoleBinding) or one (through a RoleBinding).
    ClusterRole, "io.k8s.api.rbac.v1.ClusterRole", "ClusterRole", "clusterroles", false, {
        /// What it allows.
        rules: Vec<PolicyRule>,
    }
);

rbac_kind!(
    /// A RoleBinding: grants a Role or ClusterRole within its namespace.
    RoleBinding, "io.k8s.api.rbac.v1.RoleBinding", "RoleBinding", "rolebindings", true, {
        /// Who holds the role.
        subjects: Vec<Subject>,
        /// The role.
        role_ref: RoleRef,
    }
);

rbac_kind!(
    /// A ClusterRoleBinding: grants a ClusterRole everywhere.
    ClusterRoleBinding, "io.k8s.api.rbac.v1.ClusterRoleBinding", "ClusterRoleBinding", "clusterrolebindings", false, {
        /// Who holds the role.
        subjects: Vec<Subject>,
        /// The role.
        role_ref: RoleRef,
    }
);
