//! What the runtime tests share.
#![allow(dead_code)]

use std::collections::BTreeMap;

use orch_runtime::runtime::{PodSandboxConfig, PodSandboxMetadata};

/// A sandbox config for pod `name` in `default` (uid `uid-{name}`), labelled
/// `orch.io/pod={name}`, with the pod name as hostname.
pub fn sandbox_config(name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        },
        hostname: name.into(),
        labels: BTreeMap::from([("orch.io/pod".to_string(), name.to_string())]),
        ..Default::default()
    }
}
