//! `SelfSubjectAccessReview` (authorization.k8s.io/v1), what `kubectl auth
//! can-i` asks: may the requesting user do this? Until RBAC is served the
//! server authorizes every authenticated request (kube-apiserver's
//! `AlwaysAllow` mode), so the answer is `allowed: true` with that reason.

use serde_json::{json, Value};

use crate::authn::User;

/// The review with its `status`, as kube-apiserver answers the POST
/// (201): `allowed`, `reason`.
pub fn review(mut request: Value, user: Option<&User>) -> Value {
    let who = user.map(|u| u.name.as_str()).unwrap_or("an unauthenticated client");
    request["apiVersion"] = json!("authorization.k8s.io/v1");
    request["kind"] = json!("SelfSubjectAccessReview");
    request["status"] = json!({
        "allowed": true,
        "reason": format!("no authorizer is configured (AlwaysAllow): {who} may do everything"),
    });
    request
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_request_is_allowed_until_rbac() {
        let user = crate::authn::User::authenticated("dev", &[]);
        let r = super::review(serde_json::json!({"spec": {}}), Some(&user));
        assert_eq!(r["status"]["allowed"], true);
        assert_eq!(r["kind"], "SelfSubjectAccessReview");
    }
}
