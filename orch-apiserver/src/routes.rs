//! Kubernetes' URL layout: what a request path names.
//!
//! ```text
//! /version                               /openapi/v3[/{group-version path}]
//! /api                                   /apis                 /apis/{group}
//! /api/v1                                /apis/{group}/{version}
//! /api/v1/{plural}[/{name}[/{subresource}]]                         (cluster-scoped, or all namespaces)
//! /api/v1/namespaces/{namespace}/{plural}[/{name}[/{subresource}]]
//! /apis/{group}/{version}/…               (the same below a group-version)
//! ```
//!
//! `/api/v1/namespaces/{name}` and `/api/v1/namespaces/{name}/status` (or
//! `/finalize`) name the Namespace object itself, as kube-apiserver reads
//! them.

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/version`.
    Version,
    /// `/api`.
    Api,
    /// `/apis`.
    Apis,
    /// `/apis/{group}`.
    Group(&'a str),
    /// `/api/v1` (group `""`) or `/apis/{group}/{version}`.
    GroupVersion {
        /// `""` for the core group.
        group: &'a str,
        /// e.g. `v1`.
        version: &'a str,
    },
    /// `/openapi/v3` (`None`) or `/openapi/v3/{group-version path}`
    /// (`Some("apis/apps/v1")`).
    OpenApi(Option<&'a str>),
    /// A resource collection, object or subresource.
    Resource(ResourcePath<'a>),
}

/// A path below a group-version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath<'a> {
    /// `""` for the core group.
    pub group: &'a str,
    /// e.g. `v1`.
    pub version: &'a str,
    /// The namespace segment, if the path has one.
    pub namespace: Option<&'a str>,
    /// The resource's plural, e.g. `pods`.
    pub plural: &'a str,
    /// The object's name, for an object path.
    pub name: Option<&'a str>,
    /// The subresource, e.g. `status`, `scale`, `log`.
    pub subresource: Option<&'a str>,
}

/// True if a query string asks for a watch (`watch=true` or `watch=1`).
pub fn is_watch(query: &str) -> bool {
    query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1")
}

/// The route of `path` (without its query), or `None` for a path the
/// Kubernetes API does not have.
pub fn parse(path: &str) -> Option<Route<'_>> {
    if let Some(rest) = path.strip_prefix("/openapi/v3") {
        return match rest.trim_matches('/') {
            "" => Some(Route::OpenApi(None)),
            gv if rest.starts_with('/') => Some(Route::OpenApi(Some(gv))),
            _ => None,
        };
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Some(Route::Version),
        ["api"] => Some(Route::Api),
        ["apis"] => Some(Route::Apis),
        ["apis", group] => Some(Route::Group(group)),
        ["api", version] => Some(Route::GroupVersion { group: "", version }),
        ["apis", group, version] => Some(Route::GroupVersion { group, version }),
        ["api", version, rest @ ..] => resource("", version, rest).map(Route::Resource),
        ["apis", group, version, rest @ ..] => resource(group, version, rest).map(Route::Resource),
        _ => None,
    }
}

fn resource<'a>(group: &'a str, version: &'a str, rest: &[&'a str]) -> Option<ResourcePath<'a>> {
    let namespace_object =
        matches!(rest, ["namespaces", _] | ["namespaces", _, "status" | "finalize"]);
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !namespace_object => (Some(*ns), tail),
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    Some(ResourcePath { group, version, namespace, plural, name, subresource })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res<'a>(
        group: &'a str,
        namespace: Option<&'a str>,
        plural: &'a str,
        name: Option<&'a str>,
        subresource: Option<&'a str>,
    ) -> Option<Route<'a>> {
        Some(Route::Resource(ResourcePath {
            group,
            version: "v1",
            namespace,
            plural,
            name,
            subresource,
        }))
    }

    #[test]
    fn paths_name_what_kube_apiserver_serves() {
        let cases = [
            ("/version", Some(Route::Version)),
            ("/api", Some(Route::Api)),
            ("/apis", Some(Route::Apis)),
            ("/apis/apps", Some(Route::Group("apps"))),
            ("/api/v1", Some(Route::GroupVersion { group: "", version: "v1" })),
            ("/apis/apps/v1", Some(Route::GroupVersion { group: "apps", version: "v1" })),
            ("/api/v1/pods", res("", None, "pods", None, None)),
            ("/api/v1/nodes/n1", res("", None, "nodes", Some("n1"), None)),
            ("/api/v1/namespaces", res("", None, "namespaces", None, None)),
            ("/api/v1/namespaces/dev", res("", None, "namespaces", Some("dev"), None)),
            (
                "/api/v1/namespaces/dev/status",
                res("", None, "namespaces", Some("dev"), Some("status")),
            ),
            ("/api/v1/namespaces/dev/pods", res("", Some("dev"), "pods", None, None)),
            (
                "/api/v1/namespaces/dev/pods/p/log",
                res("", Some("dev"), "pods", Some("p"), Some("log")),
            ),
            (
                "/apis/apps/v1/namespaces/default/deployments/web/scale",
                res("apps", Some("default"), "deployments", Some("web"), Some("scale")),
            ),
            ("/openapi/v3", Some(Route::OpenApi(None))),
            ("/openapi/v3/apis/apps/v1", Some(Route::OpenApi(Some("apis/apps/v1")))),
            ("/openapi/v3x", None),
            ("/api/v1/namespaces/dev/pods/p/log/extra", None),
            ("/healthz/x", None),
            ("/", None),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path), want, "{path}");
        }
    }
}
