//! A Pod's volumes and the containers' mounts of them (core/v1 `Volume`,
//! `VolumeMount`): the `configMap`, `secret` and `emptyDir` sources.
//!
//! The node agent projects a `configMap` or `secret` volume as the kubelet
//! does: one file per key (or per `items` entry) in a directory it keeps up
//! to date when the object changes, written atomically (a timestamped
//! directory behind a `..data` symlink). Other volume sources (`hostPath`,
//! `persistentVolumeClaim`, …) are not modelled: a manifest that uses them
//! reports them as unknown fields, and the volume is refused for having no
//! source.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::quantity::Quantity;

/// The mode of projected files when neither `mode` nor `defaultMode` is set:
/// `0644`, as Kubernetes' `ConfigMapVolumeSourceDefaultMode` and
/// `SecretVolumeSourceDefaultMode`.
pub const DEFAULT_PROJECTED_FILE_MODE: i32 = 0o644;

/// Reads a file mode: an integer (JSON's decimal, `420`), or the octal a
/// YAML manifest writes with a leading zero (`0644`, octal in the YAML 1.1
/// that kubectl reads; the YAML 1.2 parser here hands it over as the string
/// `"0644"`). Any other string is an error.
fn file_mode<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<i32>, D::Error> {
    #[derive(Deserialize, JsonSchema)]
    #[schemars(rename = "io.k8s.api.core.v1.Volume")]
    #[serde(untagged)]
    enum Mode {
        Int(i32),
        Text(String),
    }
    match Option::<Mode>::deserialize(de)? {
        None => Ok(None),
        Some(Mode::Int(m)) => Ok(Some(m)),
        Some(Mode::Text(t)) => match t.strip_prefix('0') {
            Some(digits) if !digits.is_empty() => i32::from_str_radix(digits, 8)
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("file mode {t:?} is not octal"))),
            _ => Err(serde::de::Error::custom(format!(
                "file mode {t:?}: an integer (420) or octal with a leading zero (0644)"
            ))),
        },
    }
}

/// A named volume of a Pod (core/v1 `Volume`): exactly one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Volume")]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Name, a DNS-1123 label unique in the Pod; `volumeMounts` refer to it.
    pub name: String,
    /// The keys of a ConfigMap in the Pod's namespace, as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// The keys of a Secret in the Pod's namespace, as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// An empty directory that lives as long as the Pod on its node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
}

/// A ConfigMap as a volume (core/v1 `ConfigMapVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ConfigMapVolumeSource")]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolumeSource {
    /// The ConfigMap's name.
    #[serde(default)]
    pub name: String,
    /// Which keys, at which paths. Empty: every key of `data` and
    /// `binaryData`, each at a path named after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Permission bits of the files, `0..=0o777` (JSON carries it in
    /// decimal: `420` is `0644`); default [`DEFAULT_PROJECTED_FILE_MODE`].
    #[serde(default, deserialize_with = "file_mode", skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// If true, a missing ConfigMap gives an empty volume and a missing
    /// `items` key is left out, instead of holding the Pod in
    /// `ContainerCreating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret as a volume (core/v1 `SecretVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.SecretVolumeSource")]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeSource {
    /// The Secret's name.
    #[serde(default)]
    pub secret_name: String,
    /// Which keys, at which paths. Empty: every key of `data`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Permission bits of the files, `0..=0o777`; default
    /// [`DEFAULT_PROJECTED_FILE_MODE`].
    #[serde(default, deserialize_with = "file_mode", skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// If true, a missing Secret gives an empty volume and a missing
    /// `items` key is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// One key of a ConfigMap or Secret projected to a file (core/v1 `KeyToPath`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.KeyToPath")]
#[serde(rename_all = "camelCase")]
pub struct KeyToPath {
    /// The key.
    pub key: String,
    /// The file's path relative to the volume, e.g. `conf/app.yaml`: not
    /// absolute, no `..` element, not starting with `..`.
    pub path: String,
    /// Permission bits of this file, `0..=0o777`; default the source's
    /// `defaultMode`.
    #[serde(default, deserialize_with = "file_mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

/// An empty directory for the Pod's lifetime (core/v1 `EmptyDirVolumeSource`).
/// orch keeps it on the node's disk whatever the medium, and does not
/// enforce `sizeLimit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.EmptyDirVolumeSource")]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirVolumeSource {
    /// `""` (the node's disk) or `Memory` (tmpfs in Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Most the volume may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A volume mounted into a container (core/v1 `VolumeMount`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.VolumeMount")]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// The Pod volume's name.
    pub name: String,
    /// Where in the container, e.g. `/etc/config`; unique in the container.
    pub mount_path: String,
    /// Mount read-only. `configMap` and `secret` volumes are read-only
    /// whatever this says, as in Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// A path inside the volume to mount instead of its root: relative, no
    /// `..` element. (Kubernetes does not update a `subPath` mount of a
    /// `configMap` or `secret` volume; orch's node agent refuses one.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}
