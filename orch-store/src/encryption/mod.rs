//! Encryption at rest, as kube-apiserver's `--encryption-provider-config`:
//! [`EncryptedStore`] wraps any [`Store`] and encrypts the values of the
//! configured resources' keys on every write, and decrypts them on every
//! read, watch event and `prev_kv`. What is underneath — a `RaftStore`'s
//! log and snapshots, what `etcdctl get` shows — holds only
//! `k8s:enc:aesgcm:v1:<key name>:…` for those keys.
//!
//! * **Writes** use the first provider of the first rule that names the
//!   key's resource (`/registry/{group}/{plural}/…`); other keys pass
//!   through untouched.
//! * **Reads** try the rule's providers in order by the value's prefix: an
//!   `aesgcm` key reads values it wrote, `identity` reads values without a
//!   `k8s:enc:` prefix (what was stored before encryption was turned on).
//!   A value no provider reads fails with [`Error::Encryption`].
//! * **Key rotation** as Kubernetes documents it: add the new key second
//!   (every member reads it), move it first (writes use it), rewrite every
//!   object (an update through the Api re-encrypts it), then drop the old
//!   key.
//! * A txn's `Compare` on the *value* of an encrypted key is refused with
//!   `InvalidRequest`: each write has a fresh nonce, so stored bytes never
//!   equal a plaintext (kube-apiserver compares revisions only, as the Api
//!   does).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use orch_core::store::{KeyRange, RangeRequest, Store};
//! use orch_core::{Api, ObjectMeta, Secret};
//! use orch_store::{EncryptedStore, EncryptionConfiguration, MemStore};
//!
//! let config = EncryptionConfiguration::from_yaml(
//!     "apiVersion: apiserver.config.k8s.io/v1
//! kind: EncryptionConfiguration
//! resources:
//!   - resources: [secrets]
//!     providers:
//!       - aesgcm:
//!           keys: [{name: key1, secret: YSAzMi1ieXRlIGtleSBmb3IgdGhlIGRvYyB0ZXN0ISE=}]
//!       - identity: {}",
//! )?;
//! let raw = Arc::new(MemStore::new());
//! let store: Arc<dyn Store> = Arc::new(EncryptedStore::new(raw.clone(), &config)?);
//!
//! let api: Api<Secret> = Api::namespaced(store, "default");
//! let mut secret = Secret { metadata: ObjectMeta::named("db"), ..Default::default() };
//! secret.string_data.insert("password".into(), "hunter2".into());
//! api.create(&secret).await?;
//! assert_eq!(&api.get("db").await?.data["password"].0[..], b"hunter2");
//!
//! let stored = raw.range(RangeRequest::new(KeyRange::key("/registry/core/secrets/default/db"))).await?;
//! assert!(stored.kvs[0].value.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
//! # Ok::<(), orch_core::Error>(())
//! # }).unwrap();
//! ```

mod aes_gcm;
mod config;

pub use config::{
    EncryptionConfiguration, IdentityConfiguration, Key, KeysConfiguration, ProviderConfiguration,
    ResourceConfiguration,
};

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use orch_core::store::{
    prefix_end, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, KeyRange, KeyValue,
    LeaseGrant, LeaseTimeToLive, PutRequest, PutResponse, RangeRequest, RangeResponse, Store,
    TxnOp, TxnOpResponse, TxnRequest, TxnResponse, WatchRequest, WatchStream,
};
use orch_core::{Error, Result};

use self::aes_gcm::AesGcmKey;
use self::config::invalid;

/// The prefix of every encrypted value, whatever its provider.
const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

/// One compiled provider.
enum Provider {
    Identity,
    AesGcm(Vec<AesGcmKey>),
}

/// One compiled rule: the key prefixes of its resources and its providers.
struct Rule {
    prefixes: Vec<Bytes>,
    providers: Vec<Provider>,
}

/// A [`Store`] that encrypts the values of some resources at rest. See the
/// [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct EncryptedStore {
    inner: Arc<dyn Store>,
    rules: Arc<Vec<Rule>>,
}

impl std::fmt::Debug for EncryptedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<String> = self
            .rules
            .iter()
            .flat_map(|r| r.prefixes.iter().map(|p| String::from_utf8_lossy(p).into_owned()))
            .collect();
        f.debug_struct("EncryptedStore").field("prefixes", &prefixes).finish_non_exhaustive()
    }
}

/// The key prefix of a resource name of the configuration.
fn resource_prefix(name: &str) -> Option<String> {
    let (plural, group) = name.split_once('.').unwrap_or((name, ""));
    let group = if group.is_empty() { "core" } else { group };
    match (plural, group) {
        ("*", "*") => Some("/registry/".into()),
        ("", _) | (_, "*") => None,
        ("*", group) => Some(format!("/registry/{group}/")),
        (plural, group) => Some(format!("/registry/{group}/{plural}/")),
    }
}

fn compile(config: &EncryptionConfiguration) -> Result<Vec<Rule>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut rules = Vec::new();
    for (i, rc) in config.resources.iter().enumerate() {
        let field = format!("resources[{i}]");
        if rc.resources.is_empty() {
            return Err(invalid(&format!("{field}.resources"), "must name a resource".into()));
        }
        let mut prefixes = Vec::new();
        for (j, name) in rc.resources.iter().enumerate() {
            let prefix = resource_prefix(name).ok_or_else(|| {
                invalid(
                    &format!("{field}.resources[{j}]"),
                    format!(
                        "{name:?} is not a resource name (secrets, deployments.apps, *.apps, *.*)"
                    ),
                )
            })?;
            if !seen.insert(name.clone()) {
                return Err(invalid(
                    &format!("{field}.resources[{j}]"),
                    format!("{name:?} is listed more than once"),
                ));
            }
            prefixes.push(Bytes::from(prefix));
        }
        if rc.providers.is_empty() {
            return Err(invalid(&format!("{field}.providers"), "must name a provider".into()));
        }
        let mut providers = Vec::new();
        for (j, p) in rc.providers.iter().enumerate() {
            providers.push(provider(p, &format!("{field}.providers[{j}]"))?);
        }
        rules.push(Rule { prefixes, providers });
    }
    Ok(rules)
}

fn provider(p: &ProviderConfiguration, field: &str) -> Result<Provider> {
    let set = [
        ("aesgcm", p.aesgcm.is_some()),
        ("identity", p.identity.is_some()),
        ("aescbc", p.aescbc.is_some()),
        ("secretbox", p.secretbox.is_some()),
        ("kms", p.kms.is_some()),
    ];
    let named: Vec<&str> = set.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect();
    if named.len() != 1 {
        return Err(invalid(field, format!("must set exactly one provider, has {}", named.len())));
    }
    match (&p.aesgcm, &p.identity) {
        (Some(keys), _) => {
            if keys.keys.is_empty() {
                return Err(invalid(&format!("{field}.aesgcm.keys"), "must hold a key".into()));
            }
            let mut names = std::collections::BTreeSet::new();
            let mut compiled = Vec::new();
            for (k, key) in keys.keys.iter().enumerate() {
                let kf = format!("{field}.aesgcm.keys[{k}]");
                if !names.insert(key.name.as_str()) {
                    return Err(invalid(
                        &format!("{kf}.name"),
                        format!("{:?} is used twice", key.name),
                    ));
                }
                compiled.push(AesGcmKey::new(&key.name, &key.secret, &kf)?);
            }
            Ok(Provider::AesGcm(compiled))
        }
        (None, Some(_)) => Ok(Provider::Identity),
        (None, None) => Err(invalid(
            field,
            format!("provider {:?} is not supported by orch (aesgcm and identity are)", named[0]),
        )),
    }
}

fn encryption_error(key: &[u8], reason: String) -> Error {
    Error::Encryption { key: String::from_utf8_lossy(key).into_owned(), reason }
}

impl EncryptedStore {
    /// `inner` with the values of `config`'s resources encrypted.
    ///
    /// Errors: `Invalid` naming the field for a rule without resources or
    /// providers, a resource listed twice, a provider other than `aesgcm`
    /// and `identity`, or a key that is not base64 of 16, 24 or 32 bytes.
    pub fn new(inner: Arc<dyn Store>, config: &EncryptionConfiguration) -> Result<Self> {
        Ok(EncryptedStore { inner, rules: Arc::new(compile(config)?) })
    }

    /// The same configuration over another store (e.g. another member of
    /// the same RaftStore), without compiling it again.
    pub fn over(&self, inner: Arc<dyn Store>) -> Self {
        EncryptedStore { inner, rules: self.rules.clone() }
    }

    /// The store underneath, holding ciphertext.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }
}

/// The rule that covers `key`, if any.
fn rule_for<'r>(rules: &'r [Rule], key: &[u8]) -> Option<&'r Rule> {
    rules.iter().find(|r| r.prefixes.iter().any(|p| key.starts_with(p)))
}

fn encrypt(rules: &[Rule], key: &[u8], value: Bytes) -> Result<Bytes> {
    let Some(rule) = rule_for(rules, key) else {
        return Ok(value);
    };
    match &rule.providers[0] {
        Provider::Identity => Ok(value),
        Provider::AesGcm(keys) => keys[0]
            .seal(key, &value)
            .map(Bytes::from)
            .map_err(|reason| encryption_error(key, reason)),
    }
}

fn decrypt(rules: &[Rule], kv: &mut KeyValue) -> Result<()> {
    if kv.value.is_empty() {
        return Ok(());
    }
    let Some(rule) = rule_for(rules, &kv.key) else {
        return Ok(());
    };
    for provider in &rule.providers {
        match provider {
            Provider::Identity if !kv.value.starts_with(ENCRYPTED_PREFIX) => return Ok(()),
            Provider::Identity => {}
            Provider::AesGcm(keys) => {
                if let Some(k) = keys.iter().find(|k| k.wrote(&kv.value)) {
                    let plain =
                        k.open(&kv.key, &kv.value).map_err(|r| encryption_error(&kv.key, r))?;
                    kv.value = Bytes::from(plain);
                    return Ok(());
                }
            }
        }
    }
    let shown = kv.value.iter().take(40).map(|&b| b as char).collect::<String>();
    Err(encryption_error(
        &kv.key,
        format!("no provider of the encryption configuration reads a value that starts {shown:?}"),
    ))
}

fn decrypt_all<'a>(rules: &[Rule], kvs: impl IntoIterator<Item = &'a mut KeyValue>) -> Result<()> {
    kvs.into_iter().try_for_each(|kv| decrypt(rules, kv))
}

/// True if `range` holds a key some rule encrypts.
fn touches_encrypted(rules: &[Rule], range: &KeyRange) -> bool {
    rules.iter().flat_map(|r| &r.prefixes).any(|p| {
        if range.is_single_key() {
            return range.key.starts_with(p);
        }
        let end = prefix_end(p);
        let starts_before_end = range.key[..] == b"\0"[..] || range.key < end;
        let ends_after_start = range.range_end[..] == b"\0"[..] || range.range_end[..] > p[..];
        starts_before_end && ends_after_start
    })
}

impl EncryptedStore {
    fn seal_put(&self, mut req: PutRequest) -> Result<PutRequest> {
        req.value = encrypt(&self.rules, &req.key, req.value)?;
        Ok(req)
    }

    fn open_put(&self, mut resp: PutResponse) -> Result<PutResponse> {
        decrypt_all(&self.rules, resp.prev_kv.as_mut())?;
        Ok(resp)
    }

    fn open_range(&self, mut resp: RangeResponse) -> Result<RangeResponse> {
        decrypt_all(&self.rules, &mut resp.kvs)?;
        Ok(resp)
    }

    fn open_delete(&self, mut resp: DeleteRangeResponse) -> Result<DeleteRangeResponse> {
        decrypt_all(&self.rules, &mut resp.prev_kvs)?;
        Ok(resp)
    }

    fn seal_ops(&self, ops: Vec<TxnOp>) -> Result<Vec<TxnOp>> {
        ops.into_iter()
            .map(|op| match op {
                TxnOp::Put(put) => self.seal_put(put).map(TxnOp::Put),
                other => Ok(other),
            })
            .collect()
    }
}

#[async_trait]
impl Store for EncryptedStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.open_range(self.inner.range(req).await?)
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        let req = self.seal_put(req)?;
        self.open_put(self.inner.put(req).await?)
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        self.open_delete(self.inner.delete_range(req).await?)
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        if let Some(c) = req.compare.iter().find(|c| {
            matches!(c.target, CompareTarget::Value(_)) && touches_encrypted(&self.rules, &c.range)
        }) {
            return Err(Error::InvalidRequest(format!(
                "a value comparison on {:?} cannot be made: its values are encrypted at rest",
                String::from_utf8_lossy(&c.range.key)
            )));
        }
        let req = TxnRequest {
            compare: req.compare,
            success: self.seal_ops(req.success)?,
            failure: self.seal_ops(req.failure)?,
        };
        let mut resp = self.inner.txn(req).await?;
        for r in &mut resp.responses {
            match r {
                TxnOpResponse::Range(range) => decrypt_all(&self.rules, &mut range.kvs)?,
                TxnOpResponse::Put(put) => decrypt_all(&self.rules, put.prev_kv.as_mut())?,
                TxnOpResponse::DeleteRange(del) => decrypt_all(&self.rules, &mut del.prev_kvs)?,
            }
        }
        Ok(resp)
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let rules = self.rules.clone();
        let stream = self.inner.watch(req).await?;
        Ok(stream
            .map(move |item| {
                let mut resp = item?;
                for event in &mut resp.events {
                    decrypt(&rules, &mut event.kv)?;
                    decrypt_all(&rules, event.prev_kv.as_mut())?;
                }
                Ok(resp)
            })
            .boxed())
    }

    async fn lease_grant(&self, ttl_seconds: i64, id: i64) -> Result<LeaseGrant> {
        self.inner.lease_grant(ttl_seconds, id).await
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        self.inner.lease_keep_alive(id).await
    }

    async fn lease_revoke(&self, id: i64) -> Result<()> {
        self.inner.lease_revoke(id).await
    }

    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        self.inner.lease_time_to_live(id, keys).await
    }

    async fn leases(&self) -> Result<Vec<i64>> {
        self.inner.leases().await
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.inner.compact(revision).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_map_to_their_key_prefixes() {
        assert_eq!(resource_prefix("secrets").as_deref(), Some("/registry/core/secrets/"));
        assert_eq!(
            resource_prefix("deployments.apps").as_deref(),
            Some("/registry/apps/deployments/")
        );
        assert_eq!(resource_prefix("*.apps").as_deref(), Some("/registry/apps/"));
        assert_eq!(resource_prefix("*.").as_deref(), Some("/registry/core/"));
        assert_eq!(resource_prefix("*.*").as_deref(), Some("/registry/"));
        assert_eq!(resource_prefix(""), None);
        assert_eq!(resource_prefix("pods.*"), None);
    }

    #[test]
    fn ranges_touch_an_encrypted_prefix_when_they_overlap_it() {
        let rules = vec![Rule {
            prefixes: vec![Bytes::from_static(b"/registry/core/secrets/")],
            providers: vec![Provider::Identity],
        }];
        let touches = |r: KeyRange| touches_encrypted(&rules, &r);
        assert!(touches(KeyRange::key("/registry/core/secrets/a/b")));
        assert!(!touches(KeyRange::key("/registry/core/configmaps/a/b")));
        assert!(touches(KeyRange::prefix("/registry/")));
        assert!(touches(KeyRange::all()));
        assert!(touches(KeyRange::from_key("/registry/core/secrets/z")));
        assert!(!touches(KeyRange::prefix("/registry/core/configmaps/")));
        assert!(!touches(KeyRange::from_key("/registry/core/t")));
    }
}
