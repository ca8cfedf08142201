//! Encryption at rest (`EncryptedStore`, kube-apiserver's
//! `EncryptionConfiguration`): Secrets written through the typed Api are
//! ciphertext in the store underneath and plaintext through it; other
//! kinds are untouched; keys rotate; tampered or foreign values fail loudly;
//! and a durable RaftStore's files never hold the plaintext.

use std::sync::Arc;

use base64::Engine;
use futures::StreamExt;
use orch_core::store::{
    Compare, CompareResult, CompareTarget, KeyRange, PutRequest, RangeRequest, Store, TxnOp,
    TxnRequest, WatchRequest,
};
use orch_core::{Api, ConfigMap, Error, ObjectMeta, Secret};
use orch_store::{EncryptedStore, EncryptionConfiguration, MemStore};

const PASSWORD: &str = "correct-horse-battery-staple";

fn key_b64(byte: u8, len: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![byte; len])
}

/// A configuration of `secrets` with these providers (YAML list items).
fn config(providers: &str) -> EncryptionConfiguration {
    let text = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  \
         - resources: [secrets]\n    providers:\n{providers}"
    );
    EncryptionConfiguration::from_yaml(&text).expect("valid configuration")
}

fn aesgcm(keys: &[(&str, u8)]) -> String {
    let mut s = "      - aesgcm:\n          keys:\n".to_owned();
    for (name, byte) in keys {
        s.push_str(&format!(
            "            - name: {name}\n              secret: {}\n",
            key_b64(*byte, 32)
        ));
    }
    s
}

const IDENTITY: &str = "      - identity: {}\n";

fn secret(name: &str) -> Secret {
    let mut s = Secret { metadata: ObjectMeta::named(name), ..Default::default() };
    s.string_data.insert("password".into(), PASSWORD.into());
    s
}

fn secrets(store: Arc<dyn Store>) -> Api<Secret> {
    Api::namespaced(store, "default")
}

async fn raw_value(raw: &MemStore, key: &str) -> Vec<u8> {
    let resp = raw.range(RangeRequest::new(KeyRange::key(key.to_owned()))).await.expect("range");
    resp.kvs.first().unwrap_or_else(|| panic!("{key} is not stored")).value.to_vec()
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Neither the password nor its base64 (how `data` is serialized).
fn assert_no_plaintext(bytes: &[u8], what: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    assert!(!holds(bytes, PASSWORD.as_bytes()), "{what} holds the password");
    assert!(!holds(bytes, b64.as_bytes()), "{what} holds the password's base64");
}

fn encrypted(raw: &Arc<MemStore>, providers: &str) -> Arc<dyn Store> {
    Arc::new(EncryptedStore::new(raw.clone(), &config(providers)).expect("compiles"))
}

#[tokio::test]
async fn secrets_are_ciphertext_underneath_and_plaintext_through_the_store() {
    let raw = Arc::new(MemStore::new());
    let store = encrypted(&raw, &(aesgcm(&[("key1", 1)]) + IDENTITY));
    let api = secrets(store.clone());
    api.create(&secret("db")).await.expect("create");

    let stored = raw_value(&raw, "/registry/core/secrets/default/db").await;
    assert!(
        stored.starts_with(b"k8s:enc:aesgcm:v1:key1:"),
        "{:?}",
        String::from_utf8_lossy(&stored)
    );
    assert_no_plaintext(&stored, "the raw store");

    let read = api.get("db").await.expect("get");
    assert_eq!(&read.data["password"].0[..], PASSWORD.as_bytes());
    let listed = api.list(&Default::default()).await.expect("list");
    assert_eq!(&listed.items[0].data["password"].0[..], PASSWORD.as_bytes());

    // Other kinds pass through as JSON.
    let cms: Api<ConfigMap> = Api::namespaced(store, "default");
    let mut cm = ConfigMap { metadata: ObjectMeta::named("plain"), ..Default::default() };
    cm.data.insert("k".into(), "visible".into());
    cms.create(&cm).await.expect("create configmap");
    let stored = raw_value(&raw, "/registry/core/configmaps/default/plain").await;
    assert!(stored.starts_with(b"{"), "{:?}", String::from_utf8_lossy(&stored));
    assert!(holds(&stored, b"visible"));
}

#[tokio::test]
async fn watch_events_and_prev_kvs_are_decrypted() {
    let raw = Arc::new(MemStore::new());
    let store = encrypted(&raw, &aesgcm(&[("key1", 1)]));
    let mut watch = store
        .watch(WatchRequest {
            prev_kv: true,
            ..WatchRequest::new(KeyRange::prefix("/registry/core/secrets/"), 0)
        })
        .await
        .expect("watch");
    let api = secrets(store.clone());
    let created = api.create(&secret("db")).await.expect("create");
    let mut changed = created.clone();
    changed.data.insert("user".into(), orch_core::ByteString(b"admin".to_vec()));
    api.replace(&changed).await.expect("replace");

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let resp = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
            .await
            .expect("two events within 10 s")
            .expect("stream open")
            .expect("no error");
        seen.extend(resp.events);
    }
    for event in &seen {
        assert!(holds(&event.kv.value, b"\"password\""), "{:?}", event.kv.value);
    }
    let prev = seen[1].prev_kv.as_ref().expect("prev_kv on the update");
    assert!(holds(&prev.value, b"\"password\""));
    assert!(!holds(&prev.value, b"\"user\""));
}

/// Kubernetes' rotation: new key second, then first, rewrite, drop the old.
#[tokio::test]
async fn keys_rotate_reading_old_values_and_writing_with_the_first_key() {
    let raw = Arc::new(MemStore::new());
    let old = secrets(encrypted(&raw, &aesgcm(&[("key1", 1)])));
    old.create(&secret("a")).await.expect("create a");
    old.create(&secret("b")).await.expect("create b");

    // Both keys known, the new one writing: old values still read.
    let rotating = secrets(encrypted(&raw, &aesgcm(&[("key2", 2), ("key1", 1)])));
    let a = rotating.get("a").await.expect("key1's value reads during the rotation");
    assert_eq!(&a.data["password"].0[..], PASSWORD.as_bytes());
    let mut a2 = a.clone();
    a2.metadata.labels.insert("rewritten".into(), "yes".into());
    rotating.replace(&a2).await.expect("rewrite a");
    let stored = raw_value(&raw, "/registry/core/secrets/default/a").await;
    assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:key2:"), "rewritten with the new key");

    // The old key dropped: the rewritten object reads, the other does not.
    let rotated = secrets(encrypted(&raw, &aesgcm(&[("key2", 2)])));
    assert!(rotated.get("a").await.is_ok());
    match rotated.get("b").await {
        Err(Error::Encryption { key, reason }) => {
            assert_eq!(key, "/registry/core/secrets/default/b");
            assert!(reason.contains("k8s:enc:aesgcm:v1:key1:"), "{reason}");
        }
        other => panic!("b was written with key1 only: {other:?}"),
    }
}

/// Turning encryption on over plaintext (identity second) and off again
/// (identity first, aesgcm second to read what is encrypted).
#[tokio::test]
async fn identity_reads_plaintext_and_decryption_works_both_ways() {
    let raw = Arc::new(MemStore::new());
    secrets(raw.clone()).create(&secret("before")).await.expect("plaintext create");

    let on = secrets(encrypted(&raw, &(aesgcm(&[("key1", 1)]) + IDENTITY)));
    assert!(on.get("before").await.is_ok(), "identity reads what was stored in plaintext");
    on.create(&secret("during")).await.expect("create");

    let without_identity = secrets(encrypted(&raw, &aesgcm(&[("key1", 1)])));
    assert!(matches!(without_identity.get("before").await, Err(Error::Encryption { .. })));

    let off = secrets(encrypted(&raw, &(IDENTITY.to_owned() + &aesgcm(&[("key1", 1)]))));
    let mut during = off.get("during").await.expect("aesgcm reads, second");
    during.metadata.labels.insert("rewritten".into(), "yes".into());
    off.replace(&during).await.expect("rewrite in plaintext");
    let stored = raw_value(&raw, "/registry/core/secrets/default/during").await;
    assert!(stored.starts_with(b"{"), "identity first writes plaintext");
}

#[tokio::test]
async fn tampered_or_moved_values_fail_and_value_compares_are_refused() {
    let raw = Arc::new(MemStore::new());
    let store = encrypted(&raw, &aesgcm(&[("key1", 1)]));
    secrets(store.clone()).create(&secret("a")).await.expect("create");
    let mut stored = raw_value(&raw, "/registry/core/secrets/default/a").await;

    // The same ciphertext under another key: the key is authenticated.
    raw.put(PutRequest::new("/registry/core/secrets/default/copy", stored.clone()))
        .await
        .expect("raw put");
    assert!(matches!(secrets(store.clone()).get("copy").await, Err(Error::Encryption { .. })));

    let last = stored.len() - 1;
    stored[last] ^= 0x01;
    raw.put(PutRequest::new("/registry/core/secrets/default/a", stored)).await.expect("raw put");
    match secrets(store.clone()).get("a").await {
        Err(Error::Encryption { reason, .. }) => {
            assert!(reason.contains("authentication"), "{reason}")
        }
        other => panic!("a tampered value must not decode: {other:?}"),
    }

    let compare = TxnRequest {
        compare: vec![Compare::new(
            "/registry/core/secrets/default/a",
            CompareResult::Equal,
            CompareTarget::Value("{}".into()),
        )],
        success: vec![TxnOp::Put(PutRequest::new("/registry/core/secrets/default/a", "{}"))],
        failure: vec![],
    };
    assert!(matches!(store.txn(compare).await, Err(Error::InvalidRequest(_))));
}

#[test]
fn configurations_are_checked_with_the_field_named() {
    let parse = |providers: &str, resources: &str| {
        let text = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  \
             - resources: {resources}\n    providers:\n{providers}"
        );
        EncryptionConfiguration::from_yaml(&text)
            .and_then(|c| EncryptedStore::new(Arc::new(MemStore::new()), &c).map(|_| ()))
    };
    let short = format!(
        "      - aesgcm:\n          keys:\n            - name: k\n              secret: {}\n",
        key_b64(1, 20)
    );
    let twice = aesgcm(&[("k", 1), ("k", 2)]);
    let cases = [
        (short.as_str(), "[secrets]", "20 bytes"),
        (twice.as_str(), "[secrets]", "used twice"),
        ("      - aescbc:\n          keys: []\n", "[secrets]", "\"aescbc\" is not supported"),
        ("      - kms: {name: x}\n", "[secrets]", "\"kms\" is not supported"),
        ("      - rot13: {}\n", "[secrets]", "rot13"),
        (IDENTITY, "[secrets, secrets]", "more than once"),
        (IDENTITY, "[\"pods.*\"]", "not a resource name"),
        (IDENTITY, "[]", "must name a resource"),
    ];
    for (providers, resources, want) in cases {
        let err = parse(providers, resources).expect_err(want);
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    let kind = EncryptionConfiguration::from_yaml(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: Secret\nresources: []",
    );
    assert!(kind.expect_err("wrong kind").to_string().contains("kind"));
    assert!(parse(&(aesgcm(&[("k", 1)]) + IDENTITY), "[secrets, \"*.apps\"]").is_ok());
}

/// At rest for real: a durable RaftStore under the EncryptedStore; its
/// data directory (log and snapshots) holds no plaintext of the Secret.
#[cfg(feature = "raft")]
#[tokio::test]
async fn a_durable_raft_members_files_hold_no_plaintext() {
    use orch_store::RaftStore;

    let dir = tempfile::tempdir().expect("tempdir");
    let members = RaftStore::in_process_durable(1, dir.path()).await.expect("start");
    let member = members.into_iter().next().expect("one member");
    member.wait_for_leader().await.expect("leader");
    let store: Arc<dyn Store> = Arc::new(
        EncryptedStore::new(Arc::new(member.clone()), &config(&aesgcm(&[("key1", 1)])))
            .expect("compiles"),
    );
    let api = secrets(store);
    for i in 0..20 {
        api.create(&secret(&format!("s{i}"))).await.expect("create");
    }
    assert_eq!(&api.get("s7").await.expect("get").data["password"].0[..], PASSWORD.as_bytes());
    member.shutdown().await;

    let mut files = 0;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                assert_no_plaintext(&bytes, &path.display().to_string());
                files += 1;
            }
        }
    }
    assert!(files > 0, "the member wrote no files under {}", dir.path().display());
}
