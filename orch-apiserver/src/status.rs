//! Errors as kube-apiserver answers them: a `metav1.Status` object
//! (`{"kind":"Status","apiVersion":"v1","status":"Failure","message",
//! "reason","details","code"}`) with the HTTP code of its reason, which
//! kubectl prints as `Error from server (<reason>): <message>`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use orch_core::ApiResource;

/// A failed request: the Status kube-apiserver would send.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// The HTTP status code (400, 404, 409, 410, 413, 415, 422, 500, …).
    pub code: u16,
    /// Kubernetes' `StatusReason`: `NotFound`, `AlreadyExists`, `Conflict`,
    /// `Invalid`, `BadRequest`, `Expired`, `RequestEntityTooLarge`, …
    pub reason: &'static str,
    /// What kubectl prints.
    pub message: String,
    /// `details`: the object's name, group and kind (its plural), and for
    /// `Invalid` the field causes.
    pub details: Option<Value>,
}

impl Status {
    /// A 400 BadRequest with `message`.
    pub fn bad_request(message: impl Into<String>) -> Status {
        Status { code: 400, reason: "BadRequest", message: message.into(), details: None }
    }

    /// A 404 for a path the server does not serve.
    pub fn path_not_found() -> Status {
        Status {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: None,
        }
    }

    /// A 405 for a verb a resource does not allow.
    pub fn method_not_allowed(verb: &str, what: &str) -> Status {
        Status {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!("{verb} is not supported on {what}"),
            details: None,
        }
    }

    /// A 415 for a body in a media type the server does not read.
    pub fn unsupported_media_type(content_type: &str) -> Status {
        Status {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!("the body of the request was in an unknown format: {content_type}"),
            details: None,
        }
    }

    /// A 500 for what should not happen.
    pub fn internal(message: impl Into<String>) -> Status {
        Status { code: 500, reason: "InternalError", message: message.into(), details: None }
    }

    /// kube-apiserver's Status for `error`, met while serving `name` (if
    /// any) of `resource`: `pods "web" not found`, `deployments.apps "web"
    /// already exists`, `Operation cannot be fulfilled on pods "web": the
    /// object has been modified; …`, `Pod "web" is invalid: <field>: <why>`.
    pub fn from_error(error: &orch_core::Error, resource: &ApiResource, name: &str) -> Status {
        use orch_core::Error as E;
        let qualified = qualified(&resource.plural, &resource.group);
        let details = json!({"name": name, "group": resource.group, "kind": resource.plural});
        let with = |code, reason, message: String| Status {
            code,
            reason,
            message,
            details: Some(details.clone()),
        };
        match error {
            E::NotFound { .. } => with(404, "NotFound", format!("{qualified} {name:?} not found")),
            E::AlreadyExists { .. } => {
                with(409, "AlreadyExists", format!("{qualified} {name:?} already exists"))
            }
            E::Conflict { .. } => with(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {qualified} {name:?}: the object has been \
                     modified; please apply your changes to the latest version and try again"
                ),
            ),
            E::Invalid { field, reason, .. } => {
                let message = format!("{} {name:?} is invalid: {field}: {reason}", resource.kind);
                let mut d = details.clone();
                d["kind"] = json!(resource.kind);
                d["causes"] =
                    json!([{"reason": "FieldValueInvalid", "message": reason, "field": field}]);
                Status { code: 422, reason: "Invalid", message, details: Some(d) }
            }
            E::TooLarge { .. } => with(413, "RequestEntityTooLarge", error.to_string()),
            E::Gone { .. } | E::Compacted { .. } => Status {
                code: 410,
                reason: "Expired",
                message: format!("too old resource version: {error}"),
                details: None,
            },
            E::AdmissionDenied { .. } => with(403, "Forbidden", error.to_string()),
            E::BadRequest { reason, .. } => with(400, "BadRequest", reason.clone()),
            E::Forbidden { message, .. } => with(403, "Forbidden", message.clone()),
            E::Selector { .. } | E::Quantity { .. } | E::Manifest { .. } | E::Decode { .. } => {
                Status::bad_request(error.to_string())
            }
            E::Unavailable(_) => Status {
                code: 503,
                reason: "ServiceUnavailable",
                message: error.to_string(),
                details: None,
            },
            _ => Status::internal(error.to_string()),
        }
    }

    /// The Status object's JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.to_json())).into_response()
    }
}

/// A resource as kube-apiserver names it in messages: `pods`,
/// `deployments.apps`.
pub(crate) fn qualified(resource: &str, group: &str) -> String {
    match group {
        "" => resource.to_owned(),
        g => format!("{resource}.{g}"),
    }
}

/// A Status of success (what a DELETE of a collection or some deletes
/// answer): `{"kind":"Status","status":"Success",…}`.
pub fn success(details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> ApiResource {
        ApiResource::new("", "v1", "Pod", "pods", true, true)
    }

    #[test]
    fn errors_become_kube_apiserver_statuses() {
        let nf = orch_core::Error::NotFound { object: "pods/default/nope".into() };
        let s = Status::from_error(&nf, &pods(), "nope");
        assert_eq!((s.code, s.reason), (404, "NotFound"));
        assert_eq!(s.message, "pods \"nope\" not found");
        let deploy = ApiResource::new("apps", "v1", "Deployment", "deployments", true, true);
        let ae = orch_core::Error::AlreadyExists { object: "x".into() };
        assert_eq!(
            Status::from_error(&ae, &deploy, "web").message,
            "deployments.apps \"web\" already exists"
        );
        let inv = orch_core::Error::Invalid {
            object: "pods/default/p".into(),
            field: "spec.containers".into(),
            reason: "Required value".into(),
        };
        let s = Status::from_error(&inv, &pods(), "p");
        assert_eq!((s.code, s.reason), (422, "Invalid"));
        assert_eq!(s.message, "Pod \"p\" is invalid: spec.containers: Required value");
        let j = s.to_json();
        assert_eq!(j["details"]["causes"][0]["field"], "spec.containers");
        assert_eq!(j["kind"], "Status");
        assert_eq!(j["code"], 422);
    }
}
