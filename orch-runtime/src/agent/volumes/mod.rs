//! A Pod's volumes on the node, as the kubelet's volume manager keeps them.
//!
//! Each volume is a directory under the agent's
//! [`root_dir`](super::NodeAgentConfig::root_dir), in the kubelet's layout:
//! `<root>/pods/<pod uid>/volumes/kubernetes.io~configmap/<volume>` (and
//! `kubernetes.io~secret`, `kubernetes.io~empty-dir`).
//!
//! * `configMap` and `secret` volumes are written by the
//!   [`AtomicWriter`](atomic_writer) from the object's keys (or `items`,
//!   with `mode`/`defaultMode`), before the containers start, and again at
//!   every volume sync, so a changed object reaches running containers
//!   without a restart. A missing object that is not `optional` fails the
//!   set-up (the kubelet's `FailedMount`); an optional one gives an empty
//!   volume. They are mounted read-only whatever `readOnly` says.
//! * `emptyDir` volumes are plain directories.
//! * Each `volumeMount` becomes a runtime [`Mount`] of the volume's
//!   directory. A `subPath` of a `configMap` or `secret` volume is refused
//!   (Kubernetes would mount a file that never updates); of an `emptyDir`,
//!   it is a directory made inside it.
//! * Everything goes with the pod's directory when the pod is removed.

mod atomic_writer;
mod payload;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use orch_core::kinds::pod::{Container, Pod, Volume};
use orch_core::store::Store;
use orch_core::{Api, ConfigMap, Secret};

use crate::runtime::Mount;
use atomic_writer::AtomicWriter;

/// A volume that could not be set up, as the kubelet's `FailedMount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetUpError {
    /// The volume's name.
    pub(crate) volume: String,
    /// Why, e.g. `configmap "app" not found`.
    pub(crate) reason: String,
}

impl std::fmt::Display for SetUpError {
    /// The kubelet's Event message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MountVolume.SetUp failed for volume {:?} : {}", self.volume, self.reason)
    }
}

/// The kubelet's name for a volume source's plugin directory.
fn plugin(v: &Volume) -> Option<&'static str> {
    if v.config_map.is_some() {
        Some("kubernetes.io~configmap")
    } else if v.secret.is_some() {
        Some("kubernetes.io~secret")
    } else if v.empty_dir.is_some() {
        Some("kubernetes.io~empty-dir")
    } else {
        None
    }
}

/// One plain path element (no `/`, not `.` or `..`), so that a uid or a
/// name cannot lead out of the agent's directory.
fn path_element(s: &str) -> Option<&str> {
    let mut components = Path::new(s).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) if !s.contains('/') => Some(s),
        _ => None,
    }
}

/// The pod's directory under the agent's root: `<root>/pods/<uid>`.
pub(crate) fn pod_dir(root: &Path, uid: &str) -> Option<PathBuf> {
    Some(root.join("pods").join(path_element(uid)?))
}

/// A volume's directory, or `None` for a source orch does not set up.
fn volume_dir(root: &Path, uid: &str, v: &Volume) -> Option<PathBuf> {
    Some(pod_dir(root, uid)?.join("volumes").join(plugin(v)?).join(path_element(&v.name)?))
}

/// Sets up one volume, or brings it up to date; returns whether its
/// files changed.
async fn set_up_one(
    store: &Arc<dyn Store>,
    ns: &str,
    dir: PathBuf,
    v: &Volume,
) -> Result<bool, String> {
    let payload = if let Some(source) = &v.config_map {
        let api: Api<ConfigMap> = Api::namespaced(store.clone(), ns);
        let cm = api.get_opt(&source.name).await.map_err(|e| e.to_string())?;
        payload::config_map(source, cm.as_ref())?
    } else if let Some(source) = &v.secret {
        let api: Api<Secret> = Api::namespaced(store.clone(), ns);
        let secret = api.get_opt(&source.secret_name).await.map_err(|e| e.to_string())?;
        payload::secret(source, secret.as_ref())?
    } else {
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        return Ok(false);
    };
    tokio::task::spawn_blocking(move || AtomicWriter::new(dir).write(&payload))
        .await
        .map_err(|e| format!("writing the volume: {e}"))?
}

/// Sets up every volume of `pod` under `root`, or brings it up to date
/// with its ConfigMap or Secret. Returns the names of the volumes whose
/// files changed.
///
/// Errors: every volume that failed (the others are still set up), for a
/// `FailedMount` Event; what a failed volume showed before stays.
pub(crate) async fn set_up(
    store: &Arc<dyn Store>,
    root: &Path,
    pod: &Pod,
) -> Result<Vec<String>, Vec<SetUpError>> {
    let mut changed = Vec::new();
    let mut failed = Vec::new();
    for v in &pod.spec.volumes {
        let Some(dir) = volume_dir(root, &pod.metadata.uid, v) else {
            failed.push(SetUpError {
                volume: v.name.clone(),
                reason: "no volume source orch can set up".into(),
            });
            continue;
        };
        match set_up_one(store, &pod.metadata.namespace, dir, v).await {
            Ok(true) => changed.push(v.name.clone()),
            Ok(false) => {}
            Err(reason) => failed.push(SetUpError { volume: v.name.clone(), reason }),
        }
    }
    if failed.is_empty() {
        Ok(changed)
    } else {
        Err(failed)
    }
}

/// The runtime mounts of `container`'s `volumeMounts`, in order.
///
/// Errors: a message for `CreateContainerConfigError`: a mount of an
/// unknown volume, a `subPath` of a `configMap` or `secret` volume, a bad
/// `subPath`, or a `subPath` directory that could not be made.
pub(crate) fn mounts(root: &Path, pod: &Pod, container: &Container) -> Result<Vec<Mount>, String> {
    let mut out = Vec::new();
    for m in &container.volume_mounts {
        let v = pod
            .spec
            .volumes
            .iter()
            .find(|v| v.name == m.name)
            .ok_or_else(|| format!("volume {:?} not found in the pod", m.name))?;
        let dir = volume_dir(root, &pod.metadata.uid, v)
            .ok_or_else(|| format!("volume {:?} cannot be mounted", m.name))?;
        let projected = v.config_map.is_some() || v.secret.is_some();
        let mut host = dir;
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if projected {
                return Err(format!(
                    "volume {:?}: subPath mounts of configMap and secret volumes are not supported (Kubernetes never updates them); mount the volume and read the file in it",
                    m.name
                ));
            }
            let sub = Path::new(sub);
            if sub.is_absolute() || sub.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(format!("volume {:?}: invalid subPath {sub:?}", m.name));
            }
            host = host.join(sub);
            std::fs::create_dir_all(&host)
                .map_err(|e| format!("creating subPath {}: {e}", host.display()))?;
        }
        out.push(Mount {
            container_path: m.mount_path.clone(),
            host_path: host.display().to_string(),
            readonly: projected || m.read_only == Some(true),
        });
    }
    Ok(out)
}

/// Removes the pod's volumes (its whole directory under `root`).
pub(crate) fn tear_down(root: &Path, uid: &str) {
    if let Some(dir) = pod_dir(root, uid) {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "removing pod volumes failed")
            }
        }
    }
}

/// The uids of the pods that have a directory under `root`.
pub(crate) fn pods_on_disk(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("pods")) else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}
