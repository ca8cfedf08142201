//! What Kubernetes' discovery says about the built-in kinds orch serves:
//! short names, categories, verbs and the subresources beyond `status`,
//! as kube-apiserver v1.32 lists them.

use orch_core::ApiResource;

use super::{ResourceInfo, SubresourceInfo};

/// Every verb a fully served resource answers, in the sorted order
/// kube-apiserver lists them.
pub(super) const ALL_VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// The verbs of a `status` or `scale` subresource.
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// One row of the table below: a built-in resource by group and plural.
struct Builtin {
    group: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    /// Subresources other than `status` (which follows
    /// [`ApiResource::status_subresource`]).
    subresources: &'static [Sub],
}

/// A subresource: name, response group, version, kind and verbs.
struct Sub(&'static str, &'static str, &'static str, &'static str, &'static [&'static str]);

const SCALE: Sub = Sub("scale", "autoscaling", "v1", "Scale", GET_PATCH_UPDATE);

/// The built-ins, as kube-apiserver v1.32 describes them. Namespaces answer
/// no `deletecollection`, as in Kubernetes. Subresources orch does not serve
/// (`pods/exec`, `pods/attach`, `namespaces/finalize`, `*/proxy`, …) are
/// left out.
const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        plural: "namespaces",
        short_names: &["ns"],
        categories: &[],
        verbs: &["create", "delete", "get", "list", "patch", "update", "watch"],
        subresources: &[],
    },
    Builtin {
        group: "",
        plural: "nodes",
        short_names: &["no"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    Builtin {
        group: "",
        plural: "pods",
        short_names: &["po"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[
            Sub("binding", "", "v1", "Binding", &["create"]),
            Sub("eviction", "policy", "v1", "Eviction", &["create"]),
            Sub("log", "", "v1", "Pod", &["get"]),
        ],
    },
    Builtin {
        group: "",
        plural: "configmaps",
        short_names: &["cm"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    Builtin {
        group: "",
        plural: "secrets",
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    Builtin {
        group: "",
        plural: "events",
        short_names: &["ev"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    Builtin {
        group: "apps",
        plural: "replicasets",
        short_names: &["rs"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[SCALE],
    },
    Builtin {
        group: "apps",
        plural: "deployments",
        short_names: &["deploy"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[SCALE],
    },
    Builtin {
        group: "coordination.k8s.io",
        plural: "leases",
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    Builtin {
        group: "batch",
        plural: "jobs",
        short_names: &[],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &[],
    },
    Builtin {
        group: "authorization.k8s.io",
        plural: "selfsubjectaccessreviews",
        short_names: &[],
        categories: &[],
        verbs: &["create"],
        subresources: &[],
    },
];

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The description of `resource`: the table's entry for a built-in (matched
/// by group and plural), else the defaults for a custom kind (singular =
/// lower-case kind, every verb, no short names or categories). A `status`
/// subresource is listed whenever `resource.status_subresource` is set.
pub(super) fn describe(resource: &ApiResource) -> ResourceInfo {
    let known = BUILTINS.iter().find(|b| b.group == resource.group && b.plural == resource.plural);
    let mut subresources: Vec<SubresourceInfo> = known
        .map(|b| b.subresources)
        .unwrap_or_default()
        .iter()
        .map(|Sub(name, group, version, kind, verbs)| SubresourceInfo {
            name: (*name).to_owned(),
            kind: (*kind).to_owned(),
            group: (*group).to_owned(),
            version: (*version).to_owned(),
            verbs: strings(verbs),
        })
        .collect();
    if resource.status_subresource {
        subresources.push(SubresourceInfo {
            name: "status".to_owned(),
            kind: resource.kind.clone(),
            group: resource.group.clone(),
            version: resource.version.clone(),
            verbs: strings(GET_PATCH_UPDATE),
        });
    }
    subresources.sort_by(|a, b| a.name.cmp(&b.name));
    ResourceInfo {
        resource: resource.clone(),
        singular: resource.kind.to_lowercase(),
        short_names: strings(known.map_or(&[], |b| b.short_names)),
        categories: strings(known.map_or(&[], |b| b.categories)),
        verbs: strings(known.map_or(ALL_VERBS, |b| b.verbs)),
        subresources,
    }
}

/// `authorization.k8s.io/v1` `SelfSubjectAccessReview` (`kubectl auth
/// can-i`): cluster-scoped, `create` only.
pub(super) fn self_subject_access_reviews() -> ApiResource {
    ApiResource::new(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
        false,
    )
}

/// The priority kube-aggregator gives a built-in group in `/apis`
/// (`groupPriorityMinimum`, highest first); other groups get 1000, as a
/// CRD's group does.
pub(super) fn group_priority(group: &str) -> u32 {
    match group {
        "apiregistration.k8s.io" => 18000,
        "apps" => 17800,
        "events.k8s.io" => 17750,
        "authentication.k8s.io" => 17700,
        "authorization.k8s.io" => 17600,
        "autoscaling" => 17500,
        "batch" => 17400,
        "certificates.k8s.io" => 17300,
        "networking.k8s.io" => 17200,
        "policy" => 17100,
        "rbac.authorization.k8s.io" => 17000,
        "storage.k8s.io" => 16800,
        "admissionregistration.k8s.io" | "apiextensions.k8s.io" => 16700,
        "scheduling.k8s.io" => 16600,
        "coordination.k8s.io" => 16500,
        "node.k8s.io" => 16300,
        "discovery.k8s.io" => 16200,
        "flowcontrol.apiserver.k8s.io" => 16100,
        _ => 1000,
    }
}
