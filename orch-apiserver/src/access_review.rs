//! `SelfSubjectAccessReview` (authorization.k8s.io/v1), what `kubectl auth
//! can-i` asks: may the requesting user do this? With RBAC the answer is
//! the [`Rbac`](crate::rbac::Rbac) authorizer's decision; without, the
//! server authorizes every request (kube-apiserver's `AlwaysAllow` mode)
//! and says so.

use serde_json::{json, Value};

use crate::authn::User;
use crate::rbac::{Attributes, Decision};

/// The attributes a review's `spec.resourceAttributes` asks about
/// (`verb`, `group`, `resource`, `subresource`, `namespace`, `name`).
pub fn attributes(review: &Value) -> Attributes {
    let r = &review["spec"]["resourceAttributes"];
    let text = |k: &str| r[k].as_str().unwrap_or("").to_owned();
    Attributes {
        verb: text("verb"),
        group: text("group"),
        resource: text("resource"),
        subresource: text("subresource"),
        namespace: text("namespace"),
        name: text("name"),
        created_name: String::new(),
    }
}

/// The review with its `status` (`allowed`, `reason`), as kube-apiserver
/// answers the POST (201): `decision` if an authorizer decided, else
/// allowed (AlwaysAllow).
pub fn review(mut request: Value, user: Option<&User>, decision: Option<Decision>) -> Value {
    request["apiVersion"] = json!("authorization.k8s.io/v1");
    request["kind"] = json!("SelfSubjectAccessReview");
    request["status"] = match decision {
        Some(d) if d.allowed => json!({"allowed": true, "reason": d.reason}),
        Some(_) => json!({"allowed": false}),
        None => {
            let who = user.map(|u| u.name.as_str()).unwrap_or("an unauthenticated client");
            json!({"allowed": true,
                "reason": format!("no authorizer is configured (AlwaysAllow): {who} may do everything")})
        }
    };
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_answers_the_decision_or_always_allow() {
        let user = User::authenticated("dev", &[]);
        let r = review(json!({"spec": {}}), Some(&user), None);
        assert_eq!(r["status"]["allowed"], true);
        assert_eq!(r["kind"], "SelfSubjectAccessReview");
        let denied = Decision { allowed: false, reason: String::new() };
        assert_eq!(review(json!({}), Some(&user), Some(denied))["status"]["allowed"], false);
        let a = attributes(
            &json!({"spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "dev"}}}),
        );
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.namespace.as_str()),
            ("create", "pods", "dev")
        );
    }
}
