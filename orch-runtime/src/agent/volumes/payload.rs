//! What a `configMap` or `secret` volume holds, as the kubelet's
//! `MakePayload`: pure functions from the source and the object (if found)
//! to the files.

use std::collections::BTreeMap;

use orch_core::kinds::pod::{
    ConfigMapVolumeSource, KeyToPath, SecretVolumeSource, DEFAULT_PROJECTED_FILE_MODE,
};
use orch_core::{ConfigMap, Secret};

use super::atomic_writer::FileProjection;

/// A payload: path in the volume → file.
pub(crate) type Payload = BTreeMap<String, FileProjection>;

/// A mode from the spec (validated to `0..=0o777`; anything else is masked).
fn mode_bits(mode: i32) -> u32 {
    (mode as u32) & 0o777
}

/// The files of `data` (key → bytes): every key at its own name, or only
/// the `items`, at their paths. A missing item key fails the volume unless
/// `optional`; `what` names the object kind in that error (`configmap`,
/// `secret`).
fn project(
    data: &BTreeMap<String, Vec<u8>>,
    items: &[KeyToPath],
    default_mode: Option<i32>,
    optional: bool,
    what: &str,
) -> Result<Payload, String> {
    let default_mode = mode_bits(default_mode.unwrap_or(DEFAULT_PROJECTED_FILE_MODE));
    if items.is_empty() {
        return Ok(data
            .iter()
            .map(|(k, v)| (k.clone(), FileProjection { data: v.clone(), mode: default_mode }))
            .collect());
    }
    let mut out = Payload::new();
    for item in items {
        let Some(value) = data.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(format!("{what} references non-existent {what} key: {}", item.key));
        };
        let mode = item.mode.map_or(default_mode, mode_bits);
        out.insert(item.path.clone(), FileProjection { data: value.clone(), mode });
    }
    Ok(out)
}

/// The files of a `configMap` volume: `data` (UTF-8) and `binaryData`.
///
/// Errors (the kubelet's words): `configmap "<name>" not found` when it is
/// missing and not optional; a missing `items` key.
pub(crate) fn config_map(
    source: &ConfigMapVolumeSource,
    object: Option<&ConfigMap>,
) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let Some(cm) = object else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(format!("configmap {:?} not found", source.name));
    };
    let mut data: BTreeMap<String, Vec<u8>> =
        cm.data.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    data.extend(cm.binary_data.iter().map(|(k, v)| (k.clone(), v.0.clone())));
    project(&data, &source.items, source.default_mode, optional, "configmap")
}

/// The files of a `secret` volume: the decoded bytes of `data`.
///
/// Errors: `secret "<name>" not found` when it is missing and not
/// optional; a missing `items` key.
pub(crate) fn secret(
    source: &SecretVolumeSource,
    object: Option<&Secret>,
) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let Some(secret) = object else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(format!("secret {:?} not found", source.secret_name));
    };
    let data: BTreeMap<String, Vec<u8>> =
        secret.data.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    project(&data, &source.items, source.default_mode, optional, "secret")
}

#[cfg(test)]
mod tests {
    use orch_core::ByteString;

    use super::*;

    fn item(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath { key: key.into(), path: path.into(), mode }
    }

    #[test]
    fn a_config_map_gives_data_and_binary_data_with_the_default_mode() {
        let mut cm = ConfigMap::default();
        cm.data.insert("text".into(), "héllo".into());
        cm.binary_data.insert("bin".into(), ByteString(vec![0, 159, 255]));
        let source = ConfigMapVolumeSource { name: "c".into(), ..Default::default() };
        let p = config_map(&source, Some(&cm)).unwrap();
        assert_eq!(p["text"], FileProjection { data: "héllo".as_bytes().to_vec(), mode: 0o644 });
        assert_eq!(p["bin"], FileProjection { data: vec![0, 159, 255], mode: 0o644 });
    }

    #[test]
    fn items_pick_keys_to_paths_with_their_modes() {
        let mut s = Secret::default();
        s.data.insert("user".into(), ByteString(b"admin".to_vec()));
        s.data.insert("pw".into(), ByteString(b"hunter2".to_vec()));
        let source = SecretVolumeSource {
            secret_name: "db".into(),
            items: vec![item("pw", "auth/password", Some(0o400))],
            default_mode: Some(0o440),
            optional: None,
        };
        let p = secret(&source, Some(&s)).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p["auth/password"], FileProjection { data: b"hunter2".to_vec(), mode: 0o400 });
        let all = SecretVolumeSource { items: vec![], ..source };
        assert_eq!(secret(&all, Some(&s)).unwrap()["user"].mode, 0o440);
    }

    #[test]
    fn missing_objects_and_keys_fail_unless_optional() {
        let source = ConfigMapVolumeSource {
            name: "app".into(),
            items: vec![item("absent", "a", None)],
            ..Default::default()
        };
        assert_eq!(config_map(&source, None).unwrap_err(), "configmap \"app\" not found");
        assert_eq!(
            config_map(&source, Some(&ConfigMap::default())).unwrap_err(),
            "configmap references non-existent configmap key: absent"
        );
        let optional = ConfigMapVolumeSource { optional: Some(true), ..source };
        assert!(config_map(&optional, None).unwrap().is_empty());
        assert!(config_map(&optional, Some(&ConfigMap::default())).unwrap().is_empty());
        let s = SecretVolumeSource { secret_name: "db".into(), ..Default::default() };
        assert_eq!(secret(&s, None).unwrap_err(), "secret \"db\" not found");
    }
}
