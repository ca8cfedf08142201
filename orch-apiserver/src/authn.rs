//! Authentication as kube-apiserver's: an x509 client certificate (its
//! Common Name is the user, its Organizations the groups), a static bearer
//! token (`--token-auth-file`), or — only if allowed — anonymous
//! (`system:anonymous` in `system:unauthenticated`). Every authenticated
//! user is also in `system:authenticated`. A request with a bad token, or
//! none while anonymous requests are refused, gets a 401.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};

use crate::status::Status;
use crate::Error;

/// Who made a request (Kubernetes' `user.Info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name, e.g. `admin`, `system:node:node-1`.
    pub name: String,
    /// The groups, e.g. `system:masters`, `system:authenticated`.
    pub groups: Vec<String>,
}

impl User {
    /// A user from a certificate's or token's name and groups, with
    /// `system:authenticated` added.
    pub fn authenticated(name: &str, groups: &[String]) -> User {
        let mut groups = groups.to_vec();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        User { name: name.to_owned(), groups }
    }

    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> User {
        User { name: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] }
    }
}

/// The user a connection's verified client certificate names (set by the
/// TLS server on each request of the connection).
#[derive(Clone, Debug)]
pub(crate) struct PeerCertificate(pub(crate) User);

/// How requests are authenticated. The default knows no token and refuses
/// anonymous requests.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    tokens: HashMap<String, User>,
    anonymous: bool,
}

impl Authenticator {
    /// An authenticator with no tokens that refuses anonymous requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as `user` in `groups`.
    pub fn token(mut self, token: &str, user: &str, groups: &[&str]) -> Self {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        self.tokens.insert(token.to_owned(), User::authenticated(user, &groups));
        self
    }

    /// Reads kube-apiserver's `--token-auth-file`: CSV lines
    /// `token,user,uid[,"group1,group2"]`; blank lines and `#` comments
    /// are skipped.
    ///
    /// Errors: [`Error::TokenFile`] naming the line of a malformed entry.
    pub fn token_file(mut self, text: &str) -> Result<Self, Error> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (fields, groups) = match line.split_once(",\"") {
                Some((head, quoted)) => (head, quoted.trim_end_matches('"')),
                None => (line, ""),
            };
            let fields: Vec<&str> = fields.split(',').map(str::trim).collect();
            let (token, user) = match fields.as_slice() {
                [token, user, _uid, ..] if !token.is_empty() && !user.is_empty() => (*token, *user),
                _ => {
                    return Err(Error::TokenFile {
                        line: i + 1,
                        reason: "want token,user,uid[,\"group1,group2\"]".into(),
                    })
                }
            };
            let groups: Vec<&str> =
                groups.split(',').map(str::trim).filter(|g| !g.is_empty()).collect();
            self = self.token(token, user, &groups);
        }
        Ok(self)
    }

    /// Lets requests without credentials in as [`User::anonymous`]
    /// (kube-apiserver's `--anonymous-auth`).
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.anonymous = allow;
        self
    }

    /// Who sent a request: the bearer token's user if the request has a
    /// token (a wrong one is a 401 even with a certificate, as
    /// kube-apiserver), else the certificate's, else anonymous if allowed.
    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&User>,
    ) -> Result<User, Status> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match (bearer, certificate) {
            (Some(token), _) => self.tokens.get(token).cloned().ok_or_else(unauthorized),
            (None, Some(user)) => Ok(user.clone()),
            (None, None) if self.anonymous => Ok(User::anonymous()),
            (None, None) => Err(unauthorized()),
        }
    }
}

fn unauthorized() -> Status {
    Status { code: 401, reason: "Unauthorized", message: "Unauthorized".into(), details: None }
}

/// The user a DER client certificate names: its Common Name, and its
/// Organizations as groups.
///
/// Errors: a message if the certificate cannot be parsed or has no CN.
pub(crate) fn certificate_user(der: &[u8]) -> Result<User, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or("the client certificate has no Common Name")?
        .to_owned();
    let groups: Vec<String> =
        subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_owned)).collect();
    Ok(User::authenticated(&name, &groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        h
    }

    #[test]
    fn tokens_certificates_and_anonymous_requests() {
        let a = Authenticator::new()
            .token_file("# users\nt0k3n,alice,1001,\"dev,ops\"\nb0b,bob,1002\n")
            .unwrap();
        let alice = a.authenticate(&bearer("t0k3n"), None).unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(a.authenticate(&bearer("b0b"), None).unwrap().groups, ["system:authenticated"]);
        assert_eq!(a.authenticate(&bearer("wrong"), None).unwrap_err().code, 401);
        let cert = User::authenticated("admin", &["system:masters".into()]);
        assert_eq!(a.authenticate(&HeaderMap::new(), Some(&cert)).unwrap(), cert);
        assert_eq!(a.authenticate(&bearer("wrong"), Some(&cert)).unwrap_err().code, 401);
        assert_eq!(a.authenticate(&HeaderMap::new(), None).unwrap_err().reason, "Unauthorized");
        let open = a.allow_anonymous(true);
        assert_eq!(open.authenticate(&HeaderMap::new(), None).unwrap(), User::anonymous());
        assert!(Authenticator::new().token_file("justatoken\n").is_err());
    }

    #[test]
    fn a_client_certificate_names_its_user_and_groups() {
        let pki = crate::pki::Pki::generate(&[]).unwrap();
        let client = pki.client("system:node:node-1", &["system:nodes"]).unwrap();
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(client.cert_pem.as_bytes())
            .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
            .unwrap();
        let user = certificate_user(&der).unwrap();
        assert_eq!(user.name, "system:node:node-1");
        assert_eq!(user.groups, ["system:nodes", "system:authenticated"]);
    }
}
