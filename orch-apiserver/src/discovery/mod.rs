//! What the server answers for discovery: `GET /version`, `/api` and `/apis`
//! (aggregated discovery, `apidiscovery.k8s.io/v2`, or the legacy
//! `APIVersions`/`APIGroupList`), `/apis/<group>` and the legacy
//! per-group-version `APIResourceList`s. Pure functions from the served
//! [`ResourceInfo`]s to JSON; the HTTP layer picks one from the path and, for
//! `/api` and `/apis`, from [`wants_aggregated`], and must answer with the
//! content type it returns: kubectl chooses its parser from the response
//! Content-Type, not from the body.
//!
//! ```
//! use orch_apiserver::discovery::{self, ResourceInfo};
//! use orch_core::{Pod, Resource};
//!
//! let served = vec![ResourceInfo::builtin(&Pod::api_resource())];
//! let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
//! assert_eq!(discovery::wants_aggregated(accept), Some(discovery::AGGREGATED_V2));
//! let api = discovery::aggregated_api(&served);
//! assert_eq!(api["items"][0]["versions"][0]["resources"][0]["shortNames"][0], "po");
//! ```
//!
//! Kubernetes' shapes are followed field for field: `APIGroupDiscoveryList`
//! from `k8s.io/api/apidiscovery/v2`, `APIResourceList`, `APIGroupList`,
//! `APIGroup` and `APIVersions` from `meta/v1`, and `version.Info`.

mod builtin;

use std::collections::BTreeMap;

use orch_core::ApiResource;
use serde_json::{json, Map, Value};

/// One resource the server serves, as discovery describes it.
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    /// Group, version, kind, plural, scope and whether `status` is a subresource.
    pub resource: ApiResource,
    /// The singular name, e.g. `pod`.
    pub singular: String,
    /// Short names `kubectl` accepts for the resource, e.g. `["po"]`.
    pub short_names: Vec<String>,
    /// The categories it belongs to, e.g. `["all"]` (`kubectl get all`).
    pub categories: Vec<String>,
    /// The verbs it answers, e.g. `create delete deletecollection get list
    /// patch update watch`.
    pub verbs: Vec<String>,
    /// Its subresources (`status`, `scale`, `log`, `binding`, `eviction`),
    /// sorted by name.
    pub subresources: Vec<SubresourceInfo>,
}

/// One subresource of a [`ResourceInfo`], e.g. `deployments/scale`.
#[derive(Clone, Debug)]
pub struct SubresourceInfo {
    /// The path segment after the object's name, e.g. `scale`.
    pub name: String,
    /// The kind it answers with, e.g. `Scale`.
    pub kind: String,
    /// That kind's group, e.g. `autoscaling` (`""` for core).
    pub group: String,
    /// That kind's version, e.g. `v1`.
    pub version: String,
    /// The verbs it answers, e.g. `get patch update`.
    pub verbs: Vec<String>,
}

impl ResourceInfo {
    /// The description of `resource` as Kubernetes gives it. For the
    /// built-ins (namespaces `ns`, nodes `no`, pods `po`, replicasets `rs`,
    /// deployments `deploy`, configmaps `cm`, secrets, events `ev`,
    /// coordination.k8s.io leases, authorization.k8s.io
    /// selfsubjectaccessreviews), matched by group and plural: their short
    /// names, categories (`all` for pods, replicasets, deployments), verbs and
    /// subresources (`pods/{binding,eviction,log}`, `{deployments,
    /// replicasets}/scale` as `autoscaling/v1` `Scale`). Any other kind (a
    /// custom one) gets the defaults: singular = lower-case kind, every verb,
    /// no short names or categories. Either way `status` is listed when
    /// `resource.status_subresource` is set.
    pub fn builtin(resource: &ApiResource) -> ResourceInfo {
        builtin::describe(resource)
    }

    /// `authorization.k8s.io/v1` `selfsubjectaccessreviews`: cluster-scoped,
    /// `create` only; what `kubectl auth can-i` posts to.
    pub fn self_subject_access_reviews() -> ResourceInfo {
        builtin::describe(&builtin::self_subject_access_reviews())
    }

    /// Every kind `orch_core` defines, plus
    /// [`self_subject_access_reviews`](Self::self_subject_access_reviews).
    pub fn builtins() -> Vec<ResourceInfo> {
        use orch_core::{
            ConfigMap, Deployment, Event, Lease, Namespace, Node, Pod, ReplicaSet, Resource, Secret,
        };
        [
            Namespace::api_resource(),
            Node::api_resource(),
            Pod::api_resource(),
            ConfigMap::api_resource(),
            Secret::api_resource(),
            Event::api_resource(),
            ReplicaSet::api_resource(),
            Deployment::api_resource(),
            Lease::api_resource(),
        ]
        .iter()
        .map(ResourceInfo::builtin)
        .chain([ResourceInfo::self_subject_access_reviews()])
        .collect()
    }

    fn scope(&self) -> &'static str {
        if self.resource.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }
    }
}

/// The Content-Type of aggregated discovery v2 (Kubernetes 1.30+).
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// The Content-Type of aggregated discovery v2beta1: what kubectl 1.26–1.29
/// asks for (1.30+ asks for v2 first, then v2beta1).
pub const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Whether a request for `/api` or `/apis` with this `Accept` header gets
/// aggregated discovery: `Some(content type)` ([`AGGREGATED_V2`] or
/// [`AGGREGATED_V2BETA1`]) when the client's most preferred acceptable media
/// range is `application/json;g=apidiscovery.k8s.io;v=v2|v2beta1;as=APIGroupDiscoveryList`,
/// `None` for legacy discovery (`application/json`, `*/*`, no header).
///
/// Ranges are ranked by `q` (default 1), ties by their order in the header,
/// as kube-apiserver negotiates; `q=0` excludes one. kubectl 1.32 sends
/// v2, then v2beta1, then `application/json`, so it gets v2.
///
/// Answer with the returned content type, and the body of
/// [`aggregated_api`]/[`aggregated_apis`] passed through [`aggregated_as`].
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    let mut best: Option<(f32, Option<&'static str>)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let (mut q, mut g, mut v, mut as_) = (1.0_f32, "", "", "");
        for param in parts {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => q = value.trim().parse().unwrap_or(0.0),
                "g" => g = value.trim(),
                "v" => v = value.trim(),
                "as" => as_ = value.trim(),
                _ => {}
            }
        }
        let answer = match (media.as_str(), g, v, as_) {
            ("application/json", "apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList") => {
                Some(AGGREGATED_V2)
            }
            ("application/json", "apidiscovery.k8s.io", "v2beta1", "APIGroupDiscoveryList") => {
                Some(AGGREGATED_V2BETA1)
            }
            // Some other `as=`/`g=` (a Table, protobuf discovery) is not
            // something /api answers; a plain JSON or wildcard range is legacy.
            ("application/json" | "application/*" | "*/*", "", "", "") => None,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, answer));
        }
    }
    best.and_then(|(_, answer)| answer)
}

/// The aggregated discovery `apiVersion` that goes with `content_type` (one
/// of [`wants_aggregated`]'s answers): `apidiscovery.k8s.io/v2beta1` for
/// [`AGGREGATED_V2BETA1`], else `apidiscovery.k8s.io/v2`. The two versions'
/// bodies are otherwise the same.
pub fn aggregated_as(mut list: Value, content_type: &str) -> Value {
    let version = if content_type == AGGREGATED_V2BETA1 { "v2beta1" } else { "v2" };
    list["apiVersion"] = json!(format!("apidiscovery.k8s.io/{version}"));
    list
}

/// The `GOOS/GOARCH` spelling of the platform this server runs on.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// The Kubernetes minor version whose API orch serves: `/version` reports
/// it so that version-dispatching clients (the gcloud `kubectl` dispatcher)
/// pick a matching kubectl.
pub const KUBERNETES_MINOR: &str = "32";

/// `GET /version`: a `version.Info` (`major`, `minor`, `gitVersion`,
/// `gitCommit`, `gitTreeState`, `buildDate`, `goVersion`, `compiler`,
/// `platform`). `gitVersion` is `v1.32.0-orch.<crate version>`, major `1`,
/// minor `32`: kubectl's dispatcher picks its 1.32 client from it and
/// `kubectl version` prints it as the server version. `buildDate` is
/// Kubernetes' default for an unstamped build, the Unix epoch.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0-orch.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": platform(),
    })
}

/// A group's versions in preferred order, each with its resources by plural.
type Versions<'a> = Vec<(&'a str, Vec<&'a ResourceInfo>)>;

/// Served group-versions: group → version → resources (the first of each
/// plural kept), groups in `/apis` order (core first).
struct Groups<'a> {
    groups: Vec<(&'a str, Versions<'a>)>,
}

impl<'a> Groups<'a> {
    fn new(resources: &'a [ResourceInfo]) -> Self {
        let mut by_group: BTreeMap<&str, BTreeMap<&str, Vec<&ResourceInfo>>> = BTreeMap::new();
        for info in resources {
            let r = &info.resource;
            let list = by_group.entry(&r.group).or_default().entry(&r.version).or_default();
            if !list.iter().any(|seen| seen.resource.plural == r.plural) {
                list.push(info);
            }
        }
        let mut groups: Vec<_> = by_group
            .into_iter()
            .map(|(group, versions)| {
                let mut versions: Vec<_> = versions
                    .into_iter()
                    .map(|(version, mut list)| {
                        list.sort_by(|a, b| a.resource.plural.cmp(&b.resource.plural));
                        (version, list)
                    })
                    .collect();
                versions.sort_by(|a, b| version_order(a.0, b.0));
                (group, versions)
            })
            .collect();
        // Core first; then kube-aggregator's order: priority, then name.
        groups.sort_by(|a, b| {
            (!a.0.is_empty(), std::cmp::Reverse(builtin::group_priority(a.0)), a.0).cmp(&(
                !b.0.is_empty(),
                std::cmp::Reverse(builtin::group_priority(b.0)),
                b.0,
            ))
        });
        Groups { groups }
    }

    fn core(&self) -> impl Iterator<Item = &(&'a str, Versions<'a>)> {
        self.groups.iter().filter(|(group, _)| group.is_empty())
    }

    fn named(&self) -> impl Iterator<Item = &(&'a str, Versions<'a>)> {
        self.groups.iter().filter(|(group, _)| !group.is_empty())
    }

    fn find(&self, group: &str) -> Option<&[(&'a str, Vec<&'a ResourceInfo>)]> {
        self.groups.iter().find(|(g, _)| *g == group).map(|(_, versions)| versions.as_slice())
    }
}

/// Kubernetes' version priority (`version.CompareKubeAwareVersionStrings`):
/// GA before beta before alpha, higher numbers first within each; versions
/// not of the `v<N>[alpha|beta<M>]` form last, by name.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let major = rest[..digits].parse().ok()?;
        let (stage, tail) = match &rest[digits..] {
            "" => return Some((2, major, 0)),
            t if t.starts_with("beta") => (1, &t[4..]),
            t if t.starts_with("alpha") => (0, &t[5..]),
            _ => return None,
        };
        Some((stage, major, tail.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// An `APIResourceDiscovery`.
fn resource_discovery(info: &ResourceInfo) -> Value {
    let r = &info.resource;
    let mut out = Map::new();
    out.insert("resource".into(), json!(r.plural));
    out.insert(
        "responseKind".into(),
        json!({"group": r.group, "version": r.version, "kind": r.kind}),
    );
    out.insert("scope".into(), json!(info.scope()));
    out.insert("singularResource".into(), json!(info.singular));
    out.insert("verbs".into(), json!(info.verbs));
    if !info.short_names.is_empty() {
        out.insert("shortNames".into(), json!(info.short_names));
    }
    if !info.categories.is_empty() {
        out.insert("categories".into(), json!(info.categories));
    }
    if !info.subresources.is_empty() {
        let subs: Vec<Value> = info
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect();
        out.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(out)
}

/// An `APIGroupDiscovery`; the core group's metadata has no name.
fn group_discovery(group: &str, versions: &[(&str, Vec<&ResourceInfo>)]) -> Value {
    let metadata = if group.is_empty() { json!({}) } else { json!({ "name": group }) };
    let versions: Vec<Value> = versions
        .iter()
        .map(|(version, list)| {
            json!({
                "version": version,
                "resources": list.iter().map(|info| resource_discovery(info)).collect::<Vec<_>>(),
                "freshness": "Current",
            })
        })
        .collect();
    json!({"metadata": metadata, "versions": versions})
}

fn discovery_list(items: Vec<Value>) -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// Aggregated `GET /api`: an `APIGroupDiscoveryList` (`apidiscovery.k8s.io/v2`)
/// holding the core group (`""`) alone, its versions in preferred order, each
/// `{version, resources, freshness: "Current"}`; each resource an
/// `APIResourceDiscovery` (`resource`, `responseKind {group, version, kind}`,
/// `scope` `Namespaced`/`Cluster`, `singularResource`, `verbs`, `shortNames`,
/// `categories`, `subresources [{subresource, responseKind, verbs}]`), sorted
/// by name. `items` is empty when no core resource is served.
pub fn aggregated_api(resources: &[ResourceInfo]) -> Value {
    let groups = Groups::new(resources);
    discovery_list(groups.core().map(|(g, versions)| group_discovery(g, versions)).collect())
}

/// Aggregated `GET /apis`: like [`aggregated_api`] for every other group, in
/// kube-aggregator's order (its group priorities: `apps` first among
/// orch's groups, then by name; custom groups after the built-in ones).
/// Always a list, `items: []` when nothing is served: kubectl treats a
/// failing `/apis` as fatal even for core resources.
pub fn aggregated_apis(resources: &[ResourceInfo]) -> Value {
    let groups = Groups::new(resources);
    discovery_list(groups.named().map(|(g, versions)| group_discovery(g, versions)).collect())
}

/// Legacy `GET /api`: `APIVersions` `{kind, versions: ["v1"],
/// serverAddressByClientCIDRs: [{clientCIDR: "0.0.0.0/0", serverAddress}]}`,
/// `server_address` being `host:port` as clients reach the server.
pub fn legacy_api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The `APIGroup` body: `name`, `versions [{groupVersion, version}]` in
/// preferred order and `preferredVersion` (the first).
fn api_group(group: &str, versions: &[(&str, Vec<&ResourceInfo>)]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|(v, _)| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// Legacy `GET /apis`: `APIGroupList` `{kind, apiVersion: "v1", groups}` of
/// every group but core, each an `APIGroup` `{name, versions: [{groupVersion,
/// version}], preferredVersion}`, in the order of [`aggregated_apis`].
/// Always a list, `groups: []` when nothing is served.
pub fn legacy_group_list(resources: &[ResourceInfo]) -> Value {
    let groups = Groups::new(resources);
    let list: Vec<Value> = groups.named().map(|(g, versions)| api_group(g, versions)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
}

/// Legacy `GET /apis/<group>`: an `APIGroup` with `kind` and `apiVersion:
/// "v1"`; `None` for a group not served (or core, which has no
/// `/apis/<group>`).
pub fn legacy_group(resources: &[ResourceInfo], group: &str) -> Option<Value> {
    if group.is_empty() {
        return None;
    }
    let groups = Groups::new(resources);
    let mut out = api_group(group, groups.find(group)?);
    out["kind"] = json!("APIGroup");
    out["apiVersion"] = json!("v1");
    Some(out)
}

/// Legacy `GET /api/v1` (`group` `""`) and `GET /apis/<group>/<version>`: an
/// `APIResourceList` `{kind, apiVersion: "v1", groupVersion, resources}`,
/// each resource an `APIResource` (`name`, `singularName`, `namespaced`,
/// `kind`, `verbs`, `shortNames`, `categories`), each subresource one more
/// entry named `<plural>/<subresource>` with an empty `singularName` and
/// `group`/`version` only when its kind is from another group-version
/// (`deployments/scale`: `autoscaling`, `v1`, `Scale`), all sorted by name
/// as kube-apiserver lists them. `None` if no such group-version is served.
pub fn resource_list(resources: &[ResourceInfo], group: &str, version: &str) -> Option<Value> {
    let groups = Groups::new(resources);
    let (_, list) = groups.find(group)?.iter().find(|(v, _)| *v == version)?;
    let mut entries: Vec<Value> = Vec::new();
    for info in list {
        let r = &info.resource;
        let mut entry = Map::new();
        entry.insert("name".into(), json!(r.plural));
        entry.insert("singularName".into(), json!(info.singular));
        entry.insert("namespaced".into(), json!(r.namespaced));
        entry.insert("kind".into(), json!(r.kind));
        entry.insert("verbs".into(), json!(info.verbs));
        if !info.short_names.is_empty() {
            entry.insert("shortNames".into(), json!(info.short_names));
        }
        if !info.categories.is_empty() {
            entry.insert("categories".into(), json!(info.categories));
        }
        entries.push(Value::Object(entry));
        for sub in &info.subresources {
            let mut entry = Map::new();
            entry.insert("name".into(), json!(format!("{}/{}", r.plural, sub.name)));
            entry.insert("singularName".into(), json!(""));
            entry.insert("namespaced".into(), json!(r.namespaced));
            if sub.group != group || sub.version != version {
                entry.insert("group".into(), json!(sub.group));
                entry.insert("version".into(), json!(sub.version));
            }
            entry.insert("kind".into(), json!(sub.kind));
            entry.insert("verbs".into(), json!(sub.verbs));
            entries.push(Value::Object(entry));
        }
    }
    entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": entries,
    }))
}

#[cfg(test)]
mod tests;
