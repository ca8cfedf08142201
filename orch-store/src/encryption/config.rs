//! kube-apiserver's `EncryptionConfiguration` (`apiserver.config.k8s.io/v1`,
//! the file of `--encryption-provider-config`): which resources are
//! encrypted at rest, and with which providers, in order.
//!
//! ```yaml
//! apiVersion: apiserver.config.k8s.io/v1
//! kind: EncryptionConfiguration
//! resources:
//!   - resources: [secrets]
//!     providers:
//!       - aesgcm:
//!           keys:
//!             - name: key2            # writes use the first key
//!               secret: <base64 of 16, 24 or 32 random bytes>
//!             - name: key1            # still read during a rotation
//!               secret: <base64>
//!       - identity: {}                # reads what was stored in plaintext
//! ```
//!
//! Resource names are Kubernetes': `secrets` (the core group),
//! `deployments.apps`, `*.apps` (every resource of a group), `*.` (every
//! core resource) and `*.*` (everything). Supported providers are `aesgcm`
//! and `identity`; `aescbc`, `secretbox` and `kms` are refused by name.

use serde::Deserialize;

/// The configuration, as parsed. See the [module docs](self).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionConfiguration {
    /// `apiserver.config.k8s.io/v1`.
    pub api_version: String,
    /// `EncryptionConfiguration`.
    pub kind: String,
    /// The rules, first match wins for a key.
    pub resources: Vec<ResourceConfiguration>,
}

/// One rule: these resources, these providers.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceConfiguration {
    /// Resource names (`secrets`, `deployments.apps`, `*.apps`, `*.*`).
    pub resources: Vec<String>,
    /// Providers in order: the first one writes; every one is tried on
    /// read, by the prefix of the stored value.
    pub providers: Vec<ProviderConfiguration>,
}

/// One provider; exactly one field is set.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderConfiguration {
    /// AES-GCM with a random 96-bit nonce per write.
    pub aesgcm: Option<KeysConfiguration>,
    /// No encryption.
    pub identity: Option<IdentityConfiguration>,
    /// Not supported by orch; named so that the error says so.
    pub aescbc: Option<serde_json::Value>,
    /// Not supported by orch; named so that the error says so.
    pub secretbox: Option<serde_json::Value>,
    /// Not supported by orch; named so that the error says so.
    pub kms: Option<serde_json::Value>,
}

/// The keys of a provider; the first encrypts.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeysConfiguration {
    /// The keys, the writing one first.
    pub keys: Vec<Key>,
}

/// A named key.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Key {
    /// The name stored in each value's prefix (`k8s:enc:aesgcm:v1:<name>:`).
    pub name: String,
    /// Base64 of the key bytes: 16, 24 or 32 bytes for AES-128/192/256.
    pub secret: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("name", &self.name).field("secret", &"<redacted>").finish()
    }
}

/// The identity provider has no settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfiguration {}

impl EncryptionConfiguration {
    /// Parses a configuration file (YAML or JSON).
    ///
    /// Errors: [`Error::Invalid`](orch_core::Error::Invalid) naming the
    /// field for a malformed document or a wrong `apiVersion`/`kind`. The
    /// keys and providers are checked when the configuration is compiled
    /// ([`EncryptedStore::new`](super::EncryptedStore::new)).
    pub fn from_yaml(text: &str) -> orch_core::Result<Self> {
        let config: EncryptionConfiguration =
            serde_path_to_error::deserialize(yaml_serde::Deserializer::from_str(text))
                .map_err(|e| invalid(&e.path().to_string(), e.inner().to_string()))?;
        if config.api_version != "apiserver.config.k8s.io/v1" {
            return Err(invalid(
                "apiVersion",
                format!("{:?}: must be apiserver.config.k8s.io/v1", config.api_version),
            ));
        }
        if config.kind != "EncryptionConfiguration" {
            return Err(invalid(
                "kind",
                format!("{:?}: must be EncryptionConfiguration", config.kind),
            ));
        }
        Ok(config)
    }
}

/// An `Invalid` error about `field` of the configuration.
pub(super) fn invalid(field: &str, reason: String) -> orch_core::Error {
    orch_core::Error::Invalid {
        object: "EncryptionConfiguration".into(),
        field: field.to_owned(),
        reason,
    }
}
