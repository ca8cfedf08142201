//! What a [`Client`](super::Client) reads from a kubeconfig: the current
//! context's server, its CA, and the user's client certificate or bearer
//! token — inline (`*-data`, base64) or as file paths, as client-go reads
//! them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::Error;

/// The connection a kubeconfig's current context describes.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// The server's URL, e.g. `https://127.0.0.1:6443`.
    pub server: String,
    /// The PEM of the CA that signed the server's certificate (HTTPS).
    pub ca_pem: Option<String>,
    /// The PEM of the client certificate and of its key.
    pub client_cert: Option<(String, String)>,
    /// A bearer token.
    pub token: Option<String>,
    /// The context's namespace (`default` when it names none).
    pub namespace: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority_data: Option<String>,
    certificate_authority: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
    client_certificate: Option<String>,
    client_key: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
    namespace: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    current_context: String,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Kubeconfig { reason: reason.into() }
}

/// Inline base64 data, else the file at `path`, else `None`.
fn pem(data: &Option<String>, path: &Option<String>, what: &str) -> Result<Option<String>, Error> {
    if let Some(d) = data.as_deref().filter(|d| !d.is_empty()) {
        let bytes = STANDARD.decode(d.trim()).map_err(|e| bad(format!("{what}: {e}")))?;
        return String::from_utf8(bytes).map(Some).map_err(|e| bad(format!("{what}: {e}")));
    }
    match path.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            std::fs::read_to_string(p).map(Some).map_err(|e| bad(format!("{what} {p}: {e}")))
        }
        None => Ok(None),
    }
}

impl ClientConfig {
    /// The current context of the kubeconfig `text` (YAML).
    ///
    /// Errors: [`Error::Kubeconfig`] for YAML that is not a kubeconfig, a
    /// current context, cluster or user that is not in it, or credentials
    /// that cannot be read.
    pub fn from_kubeconfig(text: &str) -> Result<ClientConfig, Error> {
        let k: Kubeconfig =
            yaml_serde::from_str(text).map_err(|e| bad(format!("not a kubeconfig: {e}")))?;
        let find = |what: &str, name: &str| bad(format!("no {what} named {name:?}"));
        let context = k
            .contexts
            .iter()
            .find(|c| c.name == k.current_context)
            .ok_or_else(|| find("context", &k.current_context))?;
        let c = &context.value;
        let cluster = k
            .clusters
            .iter()
            .find(|n| n.name == c.cluster)
            .ok_or_else(|| find("cluster", &c.cluster))?;
        let user = k.users.iter().find(|n| n.name == c.user).map(|u| &u.value);
        let cluster = &cluster.value;
        let ca_pem =
            pem(&cluster.certificate_authority_data, &cluster.certificate_authority, "the CA")?;
        let (cert, key, token) = match user {
            None => (None, None, None),
            Some(u) => (
                pem(&u.client_certificate_data, &u.client_certificate, "the client certificate")?,
                pem(&u.client_key_data, &u.client_key, "the client key")?,
                u.token.clone().filter(|t| !t.is_empty()),
            ),
        };
        Ok(ClientConfig {
            server: cluster.server.trim_end_matches('/').to_owned(),
            ca_pem,
            client_cert: cert.zip(key),
            token,
            namespace: if c.namespace.is_empty() { "default".into() } else { c.namespace.clone() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_context_names_the_server_and_the_credentials() {
        let pki = crate::pki::Pki::generate(&["127.0.0.1"]).unwrap();
        let admin = pki.client("admin", &["system:masters"]).unwrap();
        let text = pki.kubeconfig("https://127.0.0.1:6443/", &admin, "team");
        let c = ClientConfig::from_kubeconfig(&text).unwrap();
        assert_eq!(c.server, "https://127.0.0.1:6443");
        assert_eq!(c.namespace, "team");
        assert!(c.ca_pem.as_deref().is_some_and(|p| p.contains("BEGIN CERTIFICATE")));
        assert!(c.client_cert.is_some());
        let token = pki.kubeconfig_with_token("https://127.0.0.1:6443", "t0k3n", "default");
        assert_eq!(ClientConfig::from_kubeconfig(&token).unwrap().token.as_deref(), Some("t0k3n"));
        let plain = crate::kubeconfig("http://127.0.0.1:8080", "default");
        let c = ClientConfig::from_kubeconfig(&plain).unwrap();
        assert_eq!((c.ca_pem, c.client_cert.is_none(), c.token), (None, true, None));
        assert!(ClientConfig::from_kubeconfig("current-context: x\n").is_err());
        assert!(ClientConfig::from_kubeconfig("][").is_err());
    }
}
