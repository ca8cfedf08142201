//! The audit log, as kube-apiserver's `--audit-log-path` writes it at the
//! `Metadata` level: one `audit.k8s.io/v1` `Event` per request, a JSON
//! line — who (`user`, `sourceIPs`, `userAgent`), what (`verb`,
//! `requestURI`, `objectRef`), the answer (`responseStatus.code`) and when
//! (`requestReceivedTimestamp`, `stageTimestamp`: the latency is their
//! difference). A watch is logged when its response starts
//! (`ResponseStarted`), every other request when it is complete.

use std::io::Write;
use std::path::Path;

use axum::http::Method;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::authn::User;
use crate::routes::Route;
use crate::Error;

/// An audit log file, appended to.
pub struct AuditLog {
    file: Mutex<std::fs::File>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// What one request was, for its audit event.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a axum::http::Uri,
    /// The authenticated user; `None` with `unsecured` when the server has
    /// no authenticator, `None` alone when authentication failed.
    pub(crate) user: Option<&'a User>,
    pub(crate) unsecured: bool,
    pub(crate) source_ip: Option<String>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) received: chrono::DateTime<chrono::Utc>,
}

impl AuditLog {
    /// Appends to the file at `path` (created if missing).
    ///
    /// Errors: [`Error::AuditLog`] if it cannot be opened.
    pub fn open(path: &Path) -> Result<AuditLog, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::AuditLog { path: path.display().to_string(), source })?;
        Ok(AuditLog { file: Mutex::new(file) })
    }

    /// Writes the event of `request`, answered with `code`. A write that
    /// fails is reported in the server's log, and the request is not
    /// failed for it.
    pub(crate) fn record(&self, request: &Request<'_>, code: u16) {
        let mut line = event(request, code).to_string();
        line.push('\n');
        if let Err(e) = self.file.lock().write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "writing the audit log failed");
        }
    }
}

/// Kubernetes' verb of a request: `get`, `list`, `watch`, `create`,
/// `update`, `patch`, `delete`, `deletecollection` on resources; the
/// lower-case HTTP method on other paths.
pub(crate) fn verb(method: &Method, route: Option<&Route<'_>>, watch: bool) -> String {
    let object = match route {
        Some(Route::Resource(p)) => p.name.is_some(),
        _ => return method.as_str().to_lowercase(),
    };
    match (method.as_str(), object) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (m, _) => return m.to_lowercase(),
    }
    .to_owned()
}

fn event(r: &Request<'_>, code: u16) -> Value {
    let watch = crate::routes::is_watch(r.uri.query().unwrap_or(""));
    let route = crate::routes::parse(r.uri.path());
    let mut e = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": uuid::Uuid::new_v4().to_string(),
        "stage": if watch { "ResponseStarted" } else { "ResponseComplete" },
        "requestURI": r.uri.to_string(),
        "verb": verb(r.method, route.as_ref(), watch),
        "user": match (r.user, r.unsecured) {
            (Some(u), _) => json!({"username": u.name, "groups": u.groups}),
            (None, true) => json!({"username": "system:unsecured", "groups": ["system:masters"]}),
            (None, false) => json!({}),
        },
        "sourceIPs": r.source_ip.iter().collect::<Vec<_>>(),
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": r.received.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "stageTimestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    });
    if let Some(agent) = r.user_agent {
        e["userAgent"] = json!(agent);
    }
    if let Some(Route::Resource(p)) = route {
        let mut o = json!({"resource": p.plural, "apiVersion": p.version});
        if !p.group.is_empty() {
            o["apiGroup"] = json!(p.group);
        }
        for (k, v) in [("namespace", p.namespace), ("name", p.name), ("subresource", p.subresource)]
        {
            if let Some(v) = v {
                o[k] = json!(v);
            }
        }
        e["objectRef"] = o;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_the_user_verb_object_and_code() {
        let uri: axum::http::Uri =
            "/apis/apps/v1/namespaces/default/deployments/web/scale".parse().unwrap();
        let user = User::authenticated("dev", &["devs".into()]);
        let r = Request {
            method: &Method::PATCH,
            uri: &uri,
            user: Some(&user),
            unsecured: false,
            source_ip: Some("127.0.0.1".into()),
            user_agent: Some("kubectl/v1.32.4"),
            received: chrono::Utc::now(),
        };
        let e = event(&r, 200);
        assert_eq!(e["verb"], "patch");
        assert_eq!(e["user"]["username"], "dev");
        assert_eq!(e["objectRef"]["apiGroup"], "apps");
        assert_eq!(e["objectRef"]["subresource"], "scale");
        assert_eq!(e["responseStatus"]["code"], 200);
        assert_eq!(e["stage"], "ResponseComplete");
        let list: axum::http::Uri = "/api/v1/pods?watch=true".parse().unwrap();
        let w = event(&Request { uri: &list, method: &Method::GET, ..r }, 200);
        assert_eq!(
            (w["verb"].as_str(), w["stage"].as_str()),
            (Some("watch"), Some("ResponseStarted"))
        );
    }
}
