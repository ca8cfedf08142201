//! The discovery documents' shapes, field for field, against what kubectl
//! 1.32 reads (see KUBECTL-NOTES §1).

use orch_core::{ApiResource, Deployment, Pod, Resource};
use serde_json::{json, Value};

use super::*;

const DISC: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const ANY: &str = "application/json, */*";
const JSON: &str = "application/json";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn find<'a>(list: &'a Value, field: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v[field] == name)
        .unwrap_or_else(|| panic!("no {field} {name} in {list}"))
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v[field].as_str().unwrap().to_owned()).collect()
}

#[test]
fn kubectl_accept_strings_negotiate_as_kube_apiserver() {
    assert_eq!(wants_aggregated(DISC), Some(AGGREGATED_V2));
    assert_eq!(wants_aggregated(ANY), None);
    assert_eq!(wants_aggregated(JSON), None);
    assert_eq!(wants_aggregated(TABLE), None);
    assert_eq!(wants_aggregated(""), None);
    let v2beta1_only = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    assert_eq!(wants_aggregated(v2beta1_only), Some(AGGREGATED_V2BETA1));
    // Parameters in another order and with spaces still match.
    assert_eq!(
        wants_aggregated("application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io"),
        Some(AGGREGATED_V2)
    );
    // q-values rank the ranges; q=0 excludes one.
    assert_eq!(
        wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/json"),
        None
    );
    assert_eq!(
        wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
        Some(AGGREGATED_V2BETA1)
    );
    // An unknown discovery version is no match.
    assert_eq!(
        wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"),
        None
    );
}

#[test]
fn content_types_are_the_exact_strings_kubectl_parses() {
    assert_eq!(
        AGGREGATED_V2,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(
        AGGREGATED_V2BETA1,
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    );
    let list = aggregated_as(aggregated_apis(&[]), AGGREGATED_V2BETA1);
    assert_eq!(list["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    let list = aggregated_as(list, AGGREGATED_V2);
    assert_eq!(list["apiVersion"], "apidiscovery.k8s.io/v2");
}

#[test]
fn version_reports_kubernetes_1_32() {
    let v = version();
    assert_eq!(
        keys(&v),
        [
            "buildDate",
            "compiler",
            "gitCommit",
            "gitTreeState",
            "gitVersion",
            "goVersion",
            "major",
            "minor",
            "platform"
        ]
    );
    assert_eq!(v["major"], "1");
    assert_eq!(v["minor"], "32");
    let git = v["gitVersion"].as_str().unwrap();
    assert!(git.starts_with("v1.32.") && git.contains("-orch"), "{git}");
    assert!(v["platform"].as_str().unwrap().contains('/'));
}

#[test]
fn aggregated_api_holds_the_core_group_with_exact_fields() {
    let list = aggregated_api(&ResourceInfo::builtins());
    assert_eq!(keys(&list), ["apiVersion", "items", "kind", "metadata"]);
    assert_eq!(list["kind"], "APIGroupDiscoveryList");
    assert_eq!(list["apiVersion"], "apidiscovery.k8s.io/v2");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"], json!({}));
    let version = &items[0]["versions"][0];
    assert_eq!(keys(version), ["freshness", "resources", "version"]);
    assert_eq!(version["version"], "v1");
    assert_eq!(version["freshness"], "Current");
    assert_eq!(
        names(&version["resources"], "resource"),
        ["configmaps", "events", "namespaces", "nodes", "pods", "secrets"]
    );

    let pods = find(&version["resources"], "resource", "pods");
    assert_eq!(
        keys(pods),
        [
            "categories",
            "resource",
            "responseKind",
            "scope",
            "shortNames",
            "singularResource",
            "subresources",
            "verbs"
        ]
    );
    assert_eq!(pods["responseKind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
    assert_eq!(pods["scope"], "Namespaced");
    assert_eq!(pods["singularResource"], "pod");
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert_eq!(
        pods["verbs"],
        json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
    );
    assert_eq!(
        names(&pods["subresources"], "subresource"),
        ["binding", "eviction", "log", "status"]
    );
    let eviction = find(&pods["subresources"], "subresource", "eviction");
    assert_eq!(keys(eviction), ["responseKind", "subresource", "verbs"]);
    assert_eq!(
        eviction["responseKind"],
        json!({"group": "policy", "version": "v1", "kind": "Eviction"})
    );
    assert_eq!(eviction["verbs"], json!(["create"]));

    let namespaces = find(&version["resources"], "resource", "namespaces");
    assert_eq!(namespaces["scope"], "Cluster");
    assert_eq!(namespaces["shortNames"], json!(["ns"]));
    // No short names, no categories, no subresources: the fields are left out.
    let secrets = find(&version["resources"], "resource", "secrets");
    assert_eq!(keys(secrets), ["resource", "responseKind", "scope", "singularResource", "verbs"]);
}

#[test]
fn aggregated_apis_lists_groups_in_kube_aggregator_order() {
    let list = aggregated_apis(&ResourceInfo::builtins());
    let items = list["items"].as_array().unwrap();
    let groups: Vec<&str> = items.iter().map(|g| g["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(groups, ["apps", "authorization.k8s.io", "coordination.k8s.io"]);

    let apps = &items[0]["versions"][0];
    let deployments = find(&apps["resources"], "resource", "deployments");
    assert_eq!(deployments["shortNames"], json!(["deploy"]));
    assert_eq!(deployments["categories"], json!(["all"]));
    let scale = find(&deployments["subresources"], "subresource", "scale");
    assert_eq!(
        scale["responseKind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    assert_eq!(scale["verbs"], json!(["get", "patch", "update"]));
    let rs = find(&apps["resources"], "resource", "replicasets");
    assert_eq!(rs["shortNames"], json!(["rs"]));

    let ssar = &items[1]["versions"][0]["resources"][0];
    assert_eq!(ssar["resource"], "selfsubjectaccessreviews");
    assert_eq!(ssar["scope"], "Cluster");
    assert_eq!(ssar["verbs"], json!(["create"]));
    assert_eq!(
        ssar["responseKind"],
        json!({"group": "authorization.k8s.io", "version": "v1", "kind": "SelfSubjectAccessReview"})
    );
    assert!(ssar.get("subresources").is_none());
}

#[test]
fn nothing_served_still_answers_lists() {
    for list in [aggregated_api(&[]), aggregated_apis(&[])] {
        assert_eq!(list["kind"], "APIGroupDiscoveryList");
        assert_eq!(list["items"], json!([]));
    }
    assert_eq!(
        legacy_group_list(&[]),
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
    );
    assert_eq!(resource_list(&[], "", "v1"), None);
    assert_eq!(legacy_group(&[], "apps"), None);
}

#[test]
fn legacy_api_versions_names_v1_and_the_server_address() {
    assert_eq!(
        legacy_api_versions("127.0.0.1:6443"),
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
        })
    );
}

#[test]
fn legacy_groups_name_their_preferred_version() {
    let served = ResourceInfo::builtins();
    let list = legacy_group_list(&served);
    assert_eq!(
        names(&list["groups"], "name"),
        ["apps", "authorization.k8s.io", "coordination.k8s.io"]
    );
    let apps = json!({
        "name": "apps",
        "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
    });
    assert_eq!(list["groups"][0], apps);
    let mut group = apps;
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    assert_eq!(legacy_group(&served, "apps"), Some(group));
    assert_eq!(legacy_group(&served, ""), None);
    assert_eq!(legacy_group(&served, "batch"), None);
}

#[test]
fn legacy_resource_lists_carry_subresources_short_names_and_categories() {
    let served = ResourceInfo::builtins();
    let core = resource_list(&served, "", "v1").unwrap();
    assert_eq!(keys(&core), ["apiVersion", "groupVersion", "kind", "resources"]);
    assert_eq!(core["kind"], "APIResourceList");
    assert_eq!(core["groupVersion"], "v1");
    let resources = &core["resources"];
    let all = names(resources, "name");
    for name in [
        "pods",
        "pods/log",
        "pods/status",
        "pods/binding",
        "pods/eviction",
        "nodes/status",
        "namespaces/status",
    ] {
        assert!(all.iter().any(|n| n == name), "{name} missing from {all:?}");
    }
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);

    let pods = find(resources, "name", "pods");
    assert_eq!(
        keys(pods),
        ["categories", "kind", "name", "namespaced", "shortNames", "singularName", "verbs"]
    );
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert_eq!(pods["singularName"], "pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["kind"], "Pod");
    let log = find(resources, "name", "pods/log");
    assert_eq!(
        log,
        &json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]})
    );
    let eviction = find(resources, "name", "pods/eviction");
    assert_eq!((&eviction["group"], &eviction["version"]), (&json!("policy"), &json!("v1")));
    assert_eq!(find(resources, "name", "nodes")["namespaced"], false);

    let apps = resource_list(&served, "apps", "v1").unwrap();
    assert_eq!(apps["groupVersion"], "apps/v1");
    let resources = &apps["resources"];
    assert_eq!(
        names(resources, "name"),
        [
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status"
        ]
    );
    assert_eq!(find(resources, "name", "deployments")["shortNames"], json!(["deploy"]));
    assert_eq!(
        find(resources, "name", "deployments/scale"),
        &json!({
            "name": "deployments/scale", "singularName": "", "namespaced": true,
            "group": "autoscaling", "version": "v1", "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        })
    );
    let status = find(resources, "name", "deployments/status");
    assert_eq!(status["kind"], "Deployment");
    assert!(status.get("group").is_none());
    assert_eq!(status["verbs"], json!(["get", "patch", "update"]));
    assert_eq!(resource_list(&served, "apps", "v1beta1"), None);
}

#[test]
fn builtin_describes_known_kinds_and_defaults_custom_ones() {
    let deploy = ResourceInfo::builtin(&Deployment::api_resource());
    assert_eq!(deploy.singular, "deployment");
    assert_eq!(deploy.short_names, ["deploy"]);
    let subs: Vec<&str> = deploy.subresources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(subs, ["scale", "status"]);

    let ns = ResourceInfo::builtin(&orch_core::Namespace::api_resource());
    assert!(!ns.verbs.iter().any(|v| v == "deletecollection"));

    let custom =
        ApiResource::new("games.example.com", "v1", "GameServer", "gameservers", true, false);
    let info = ResourceInfo::builtin(&custom);
    assert_eq!(info.singular, "gameserver");
    assert!(info.short_names.is_empty() && info.categories.is_empty());
    assert!(info.subresources.is_empty());
    assert_eq!(info.verbs.len(), 8);
    // A custom group sorts after the built-in ones.
    let served = [info, ResourceInfo::builtin(&Deployment::api_resource())];
    let list = aggregated_apis(&served);
    assert_eq!(list["items"][0]["metadata"]["name"], "apps");
    assert_eq!(list["items"][1]["metadata"]["name"], "games.example.com");
    // Core kinds are in /api only.
    let pods = [ResourceInfo::builtin(&Pod::api_resource())];
    assert_eq!(aggregated_apis(&pods)["items"], json!([]));
    assert_eq!(legacy_group_list(&pods)["groups"], json!([]));
}

#[test]
fn versions_follow_kubernetes_priority_and_duplicates_collapse() {
    let v = |version: &str| {
        ResourceInfo::builtin(&ApiResource::new(
            "example.com",
            version,
            "Thing",
            "things",
            true,
            false,
        ))
    };
    let served = [v("v1alpha1"), v("v1beta1"), v("v2"), v("v1"), v("v2beta2"), v("foo"), v("v1")];
    let list = aggregated_apis(&served);
    let versions = names(&list["items"][0]["versions"], "version");
    assert_eq!(versions, ["v2", "v1", "v2beta2", "v1beta1", "v1alpha1", "foo"]);
    assert_eq!(list["items"][0]["versions"][1]["resources"].as_array().unwrap().len(), 1);
    let group = legacy_group(&served, "example.com").unwrap();
    assert_eq!(
        group["preferredVersion"],
        json!({"groupVersion": "example.com/v2", "version": "v2"})
    );
}
