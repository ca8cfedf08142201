//! A kubeconfig (`apiVersion: v1, kind: Config`) that points kubectl and
//! Kubernetes' client libraries at an orch API server.

/// A kubeconfig with one cluster `orch` at `server` (e.g.
/// `http://127.0.0.1:6443`), one user `admin` and the context `orch`
/// (current) in `namespace`.
///
/// Over plain `http://` kubectl sends no credentials (client-go attaches
/// them to TLS transports only), so the user carries none.
pub fn kubeconfig(server: &str, namespace: &str) -> String {
    document(server, "", "", namespace)
}

/// The kubeconfig document: `cluster` and `user` are the lines (each
/// indented four spaces, ending in a newline) under the cluster beside
/// its `server`, and under the user (none: `user: {}`).
pub(crate) fn document(server: &str, cluster: &str, user: &str, namespace: &str) -> String {
    let user = match user {
        "" => "  user: {}\n".to_owned(),
        lines => format!("  user:\n{lines}"),
    };
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: orch
  cluster:
    server: {server:?}
{cluster}users:
- name: admin
{user}contexts:
- name: orch
  context:
    cluster: orch
    user: admin
    namespace: {namespace:?}
current-context: orch
"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kubeconfig_names_the_server_and_the_namespace() {
        let k = super::kubeconfig("http://127.0.0.1:6443", "default");
        assert!(k.contains("server: \"http://127.0.0.1:6443\""), "{k}");
        assert!(k.contains("current-context: orch"));
        assert!(k.contains("namespace: \"default\""));
    }
}
