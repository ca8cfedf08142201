//! Container environments: literal values, ConfigMap and Secret keys, and
//! fields of the Pod (the downward API's `fieldRef`).

use std::sync::Arc;

use orch_core::kinds::pod::{Container, Pod};
use orch_core::store::Store;
use orch_core::{Api, ConfigMap, Secret};

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
) -> Result<Vec<(String, String)>, String> {
    let ns = &pod.metadata.namespace;
    let mut out = Vec::with_capacity(container.env.len());
    for var in &container.env {
        if let Some(value) = &var.value {
            out.push((var.name.clone(), value.clone()));
            continue;
        }
        let Some(from) = &var.value_from else {
            out.push((var.name.clone(), String::new()));
            continue;
        };
        if let Some(r) = &from.config_map_key_ref {
            let api: Api<ConfigMap> = Api::namespaced(store.clone(), ns);
            let cm = api.get_opt(&r.name).await.map_err(|e| e.to_string())?;
            match cm.as_ref().and_then(|c| c.data.get(&r.key)) {
                Some(v) => out.push((var.name.clone(), v.clone())),
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
                Some(v) => out.push((var.name.clone(), String::from_utf8_lossy(&v.0).into_owned())),
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
            out.push((var.name.clone(), value));
        }
    }
    Ok(out)
}
