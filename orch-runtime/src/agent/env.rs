//! Container environments, as the kubelet makes them: first every key of
//! the `envFrom` ConfigMaps and Secrets (with their prefix; a later source
//! overrides an earlier, and a key that is no valid variable name is
//! skipped with a warning), then `env` — literal values, ConfigMap and
//! Secret keys, and fields of the Pod (the downward API's `fieldRef`) —
//! which overrides them.

use std::collections::BTreeMap;
use std::sync::Arc;

use orch_core::kinds::pod::{is_env_var_name, Container, Pod};
use orch_core::store::Store;
use orch_core::{Api, ConfigMap, Secret};

/// A container's environment, and the warnings met making it.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Name and value of each variable, each name once.
    pub(crate) envs: Vec<(String, String)>,
    /// For an `InvalidEnvironmentVariableNames` Event, worded as the
    /// kubelet's: keys of an `envFrom` source that were skipped.
    pub(crate) warnings: Vec<String>,
}

/// Puts `name=value` into `out`, replacing an earlier value of `name`.
fn set(out: &mut Vec<(String, String)>, name: String, value: String) {
    match out.iter_mut().find(|(n, _)| *n == name) {
        Some(existing) => existing.1 = value,
        None => out.push((name, value)),
    }
}

/// The `envFrom` variables of `container`.
async fn env_from(
    store: &Arc<dyn Store>,
    ns: &str,
    container: &Container,
    out: &mut Resolved,
) -> Result<(), String> {
    for source in &container.env_from {
        let (kind, name, optional, data): (&str, &str, bool, Option<BTreeMap<String, String>>) =
            if let Some(r) = &source.config_map_ref {
                let api: Api<ConfigMap> = Api::namespaced(store.clone(), ns);
                let cm = api.get_opt(&r.name).await.map_err(|e| e.to_string())?;
                ("configmap", &r.name, r.optional == Some(true), cm.map(|c| c.data))
            } else if let Some(r) = &source.secret_ref {
                let api: Api<Secret> = Api::namespaced(store.clone(), ns);
                let secret = api.get_opt(&r.name).await.map_err(|e| e.to_string())?;
                let data = secret.map(|s| {
                    s.data
                        .into_iter()
                        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                        .collect()
                });
                ("secret", &r.name, r.optional == Some(true), data)
            } else {
                continue;
            };
        let Some(data) = data else {
            if optional {
                continue;
            }
            return Err(format!("{kind} \"{name}\" not found"));
        };
        let prefix = source.prefix.as_deref().unwrap_or("");
        let mut invalid = Vec::new();
        for (key, value) in data {
            let var = format!("{prefix}{key}");
            if is_env_var_name(&var) {
                set(&mut out.envs, var, value);
            } else {
                invalid.push(var);
            }
        }
        if !invalid.is_empty() {
            out.warnings.push(format!(
                "Keys [{}] from the EnvFrom {kind} {ns}/{name} were skipped since they are considered invalid environment variable names.",
                invalid.join(", ")
            ));
        }
    }
    Ok(())
}

/// Resolves a container's env. `pod_ip` and `host_ip` answer `status.podIP`
/// and `status.hostIP`.
///
/// Errors: a message for `CreateContainerConfigError` when a non-optional
/// ConfigMap, Secret or key is missing, or a field is not supported.
pub(crate) async fn resolve(
    store: &Arc<dyn Store>,
    pod: &Pod,
    container: &Container,
    pod_ip: &str,
    host_ip: &str,
) -> Result<Resolved, String> {
    let ns = &pod.metadata.namespace;
    let mut resolved = Resolved::default();
    env_from(store, ns, container, &mut resolved).await?;
    let out = &mut resolved.envs;
    for var in &container.env {
        if let Some(value) = &var.value {
            set(out, var.name.clone(), value.clone());
            continue;
        }
        let Some(from) = &var.value_from else {
            set(out, var.name.clone(), String::new());
            continue;
        };
        if let Some(r) = &from.config_map_key_ref {
            let api: Api<ConfigMap> = Api::namespaced(store.clone(), ns);
            let cm = api.get_opt(&r.name).await.map_err(|e| e.to_string())?;
            match cm.as_ref().and_then(|c| c.data.get(&r.key)) {
                Some(v) => set(out, var.name.clone(), v.clone()),
                None if r.optional == Some(true) => {}
                None if cm.is_none() => return Err(format!("configmap \"{}\" not found", r.name)),
                None => {
                    return Err(format!("couldn't find key {} in ConfigMap {ns}/{}", r.key, r.name))
                }
            }
        } else if let Some(r) = &from.secret_key_ref {
            let api: Api<Secret> = Api::namespaced(store.clone(), ns);
            let secret = api.get_opt(&r.name).await.map_err(|e| e.to_string())?;
            match secret.as_ref().and_then(|s| s.data.get(&r.key)) {
                Some(v) => set(out, var.name.clone(), String::from_utf8_lossy(&v.0).into_owned()),
                None if r.optional == Some(true) => {}
                None if secret.is_none() => return Err(format!("secret \"{}\" not found", r.name)),
                None => {
                    return Err(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name))
                }
            }
        } else if let Some(f) = &from.field_ref {
            let m = &pod.metadata;
            let value = match f.field_path.as_str() {
                "metadata.name" => m.name.clone(),
                "metadata.namespace" => m.namespace.clone(),
                "metadata.uid" => m.uid.clone(),
                "spec.nodeName" => pod.spec.node_name.clone().unwrap_or_default(),
                "status.podIP" => pod_ip.to_owned(),
                "status.hostIP" => host_ip.to_owned(),
                path => {
                    match path.strip_prefix("metadata.labels['").and_then(|p| p.strip_suffix("']"))
                    {
                        Some(key) => m.labels.get(key).cloned().unwrap_or_default(),
                        None => return Err(format!("unsupported fieldRef {path}")),
                    }
                }
            };
            set(out, var.name.clone(), value);
        }
    }
    Ok(resolved)
}
