//! `Api<K>`: typed create, read, update, delete and watch of objects over any
//! [`Store`], with Kubernetes' semantics.
//!
//! * Objects live at `/registry/{group}/{plural}/{namespace}/{name}` as JSON;
//!   `resourceVersion` is the key's `mod_revision` and is not stored.
//! * `create` fails with `AlreadyExists`; `generateName` picks a free name.
//! * `replace`, `patch` and the status writes are optimistic: a stale
//!   `resourceVersion` fails with `Conflict`; without one they retry on races.
//! * `generation` starts at 1 and grows only when the desired state (anything
//!   but metadata and status) changes. Kinds with a status subresource keep
//!   their status on `replace`/`patch`; `replace_status`/`patch_status`
//!   change only the status.
//! * `delete` of an object with finalizers sets `deletionTimestamp`; the
//!   object goes when an update removes its last finalizer.
//! * Every write runs the mutating admission hooks, the built-in validation
//!   (names, labels, size ≤ 1.5 MiB, per-kind rules) and the validating hooks.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use orch_core::{Api, ConfigMap, ObjectMeta};
//! use orch_store::MemStore;
//!
//! let api: Api<ConfigMap> = Api::namespaced(Arc::new(MemStore::new()), "default");
//! let mut cm = ConfigMap { metadata: ObjectMeta::named("settings"), ..Default::default() };
//! cm.data.insert("mode".into(), "fast".into());
//! let created = api.create(&cm).await?;
//! assert_eq!(created.metadata.generation, 1);
//!
//! let mut changed = created.clone();
//! changed.data.insert("mode".into(), "safe".into());
//! api.replace(&changed).await?;
//! // The first copy is stale now.
//! assert!(api.replace(&created).await.unwrap_err().is_conflict());
//! # Ok::<(), orch_core::Error>(())
//! # }).unwrap();
//! ```

mod params;
mod watch;

pub use params::{
    DeleteOutcome, DeleteParams, ListParams, Preconditions, PropagationPolicy, WatchParams,
};
pub use watch::WatchEvent;

use std::marker::PhantomData;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::admission::{AdmissionChain, AdmissionRequest, Operation};
use crate::dynamic::DynamicObject;
use crate::kinds::pod::Pod;
use crate::meta::ObjectList;
use crate::resource::{ApiResource, Object, Resource};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{
    Compare, DeleteRangeRequest, KeyRange, KeyValue, PutRequest, RangeRequest, Store, TxnOp,
    TxnRequest,
};
use crate::time::Time;
use crate::validation::{self, FieldErrors, MAX_OBJECT_BYTES};
use crate::{Error, Result};

/// How many times an unconditional write retries after losing a race.
const MAX_RETRIES: usize = 16;

/// Finalizer that orphan propagation adds (Kubernetes `orphan`).
pub const FINALIZER_ORPHAN: &str = "orphan";
/// Finalizer that foreground propagation adds (Kubernetes `foregroundDeletion`).
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// Which part of an object an update writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Everything but the status (if the kind has a status subresource).
    Main,
    /// Only the status.
    Status,
    /// Desired state and status in one write (the Pod binding).
    Both,
}

/// Typed access to the objects of one kind, in one namespace or all. Cheap to
/// clone. See the [module docs](self).
pub struct Api<K> {
    store: Arc<dyn Store>,
    resource: Arc<ApiResource>,
    namespace: Option<String>,
    admission: AdmissionChain,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            store: self.store.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            admission: self.admission.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("resource", &self.resource.plural)
            .field("namespace", &self.namespace)
            .field("admission", &self.admission)
            .finish()
    }
}

impl<K: Resource> Api<K> {
    /// Objects of `K` in one namespace.
    pub fn namespaced(store: Arc<dyn Store>, namespace: &str) -> Self {
        Self::new_with(store, K::api_resource(), Some(namespace))
    }

    /// Objects of `K` in every namespace (or of a cluster-scoped `K`).
    /// Creates without a namespace go to `default`.
    pub fn all(store: Arc<dyn Store>) -> Self {
        Self::new_with(store, K::api_resource(), None)
    }
}

impl Api<DynamicObject> {
    /// Objects of a kind known only at run time, e.g. from a manifest.
    /// Only metadata is validated: per-kind rules need the typed Api.
    pub fn dynamic(store: Arc<dyn Store>, resource: ApiResource, namespace: Option<&str>) -> Self {
        Self::new_with(store, resource, namespace)
    }
}

impl<K: Object> Api<K> {
    fn new_with(store: Arc<dyn Store>, resource: ApiResource, namespace: Option<&str>) -> Self {
        Api {
            store,
            namespace: namespace.filter(|_| resource.namespaced).map(str::to_owned),
            resource: Arc::new(resource),
            admission: AdmissionChain::default(),
            _kind: PhantomData,
        }
    }

    /// The same Api with an admission chain that runs on every write.
    #[must_use]
    pub fn with_admission(mut self, chain: AdmissionChain) -> Self {
        self.admission = chain;
        self
    }

    /// The kind this Api serves.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The namespace, if this Api is limited to one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    // ---------------------------------------------------------------- helpers

    /// The namespace an object of this Api lives in.
    fn namespace_of(&self, obj_namespace: &str) -> Result<String> {
        if !self.resource.namespaced {
            return Ok(String::new());
        }
        match &self.namespace {
            Some(ns) if !obj_namespace.is_empty() && obj_namespace != ns => Err(Error::Invalid {
                object: self.resource.object_name(obj_namespace, ""),
                field: "metadata.namespace".into(),
                reason: format!("does not match the namespace of the request ({ns})"),
            }),
            Some(ns) => Ok(ns.clone()),
            None if obj_namespace.is_empty() => Ok("default".into()),
            None => Ok(obj_namespace.to_owned()),
        }
    }

    /// Namespace for a by-name call.
    fn request_namespace(&self) -> &str {
        match &self.namespace {
            Some(ns) => ns,
            None if self.resource.namespaced => "default",
            None => "",
        }
    }

    fn object_name(&self, namespace: &str, name: &str) -> String {
        self.resource.object_name(namespace, name)
    }

    fn key(&self, namespace: &str, name: &str) -> Bytes {
        Bytes::from(self.resource.key(namespace, name))
    }

    async fn read(&self, namespace: &str, name: &str) -> Result<Option<KeyValue>> {
        let resp =
            self.store.range(RangeRequest::new(KeyRange::key(self.key(namespace, name)))).await?;
        Ok(resp.kvs.into_iter().next())
    }

    async fn read_existing(&self, namespace: &str, name: &str) -> Result<KeyValue> {
        self.read(namespace, name)
            .await?
            .ok_or_else(|| Error::NotFound { object: self.object_name(namespace, name) })
    }

    pub(crate) fn decode(&self, kv: &KeyValue) -> Result<K> {
        let mut obj: K = serde_json::from_slice(&kv.value).map_err(|source| Error::Decode {
            object: String::from_utf8_lossy(&kv.key).into_owned(),
            kind: self.resource.kind.clone(),
            source,
        })?;
        obj.meta_mut().resource_version = kv.mod_revision.to_string();
        Ok(obj)
    }

    fn encode(&self, obj: &K, object: &str) -> Result<Bytes> {
        let bytes = serde_json::to_vec(obj).map_err(|e| Error::Invalid {
            object: object.to_owned(),
            field: ".".into(),
            reason: format!("cannot be serialized: {e}"),
        })?;
        if bytes.len() > MAX_OBJECT_BYTES {
            return Err(Error::TooLarge {
                object: object.to_owned(),
                size_bytes: bytes.len(),
                limit_bytes: MAX_OBJECT_BYTES,
            });
        }
        Ok(Bytes::from(bytes))
    }

    fn to_value(obj: &K, object: &str) -> Result<Value> {
        serde_json::to_value(obj).map_err(|e| Error::Invalid {
            object: object.to_owned(),
            field: ".".into(),
            reason: format!("cannot be serialized: {e}"),
        })
    }

    fn from_value(value: Value, object: &str) -> Result<K> {
        serde_path_to_error::deserialize(value).map_err(|e| Error::Invalid {
            object: object.to_owned(),
            field: e.path().to_string(),
            reason: e.inner().to_string(),
        })
    }

    fn parse_resource_version(rv: &str, object: &str) -> Result<Option<i64>> {
        if rv.is_empty() {
            return Ok(None);
        }
        rv.parse().map(Some).map_err(|_| Error::Invalid {
            object: object.to_owned(),
            field: "metadata.resourceVersion".into(),
            reason: format!("{rv:?} is not a resourceVersion this store issued"),
        })
    }

    fn check_type_meta(&self, obj: &mut K, object: &str) -> Result<()> {
        let r = &self.resource;
        for (field, given, want) in [
            ("apiVersion", obj.api_version(), r.api_version.as_str()),
            ("kind", obj.kind(), r.kind.as_str()),
        ] {
            if !given.is_empty() && given != want {
                return Err(Error::Invalid {
                    object: object.to_owned(),
                    field: field.into(),
                    reason: format!("{given:?} does not match this API ({want:?})"),
                });
            }
        }
        obj.set_type_meta(&r.api_version, &r.kind);
        Ok(())
    }

    /// Mutating hooks, built-in validation, validating hooks.
    async fn admit(&self, op: Operation, mut obj: K, old: Option<&Value>) -> Result<K> {
        let (namespace, name) = (obj.meta().namespace.clone(), obj.meta().name.clone());
        let object = self.object_name(&namespace, &name);
        let req = AdmissionRequest {
            operation: op,
            resource: &self.resource,
            namespace: &namespace,
            name: &name,
            old_object: old,
        };
        if !self.admission.mutating.is_empty() {
            let mut value = Self::to_value(&obj, &object)?;
            for hook in &self.admission.mutating {
                hook.mutate(&req, &mut value).await.map_err(|reason| Error::AdmissionDenied {
                    hook: hook.name().to_owned(),
                    operation: op.to_string(),
                    object: object.clone(),
                    reason,
                })?;
            }
            obj = Self::from_value(value, &object)?;
            if obj.meta().name != name || obj.meta().namespace != namespace {
                return Err(Error::Invalid {
                    object,
                    field: "metadata.name".into(),
                    reason: "an admission hook may not change the name or namespace".into(),
                });
            }
        }
        let mut errors = FieldErrors::default();
        validation::object_meta(obj.meta(), self.resource.namespaced, &mut errors);
        obj.validate(&mut errors);
        errors.into_result(&object)?;
        if !self.admission.validating.is_empty() {
            let value = Self::to_value(&obj, &object)?;
            for hook in &self.admission.validating {
                hook.validate(&req, Some(&value)).await.map_err(|reason| {
                    Error::AdmissionDenied {
                        hook: hook.name().to_owned(),
                        operation: op.to_string(),
                        object: object.clone(),
                        reason,
                    }
                })?;
            }
        }
        Ok(obj)
    }

    /// Runs `op` if `key` is still at `mod_revision`; the new revision, or
    /// `None` if someone wrote first.
    async fn write_if_unchanged(
        &self,
        key: Bytes,
        mod_revision: i64,
        op: TxnOp,
    ) -> Result<Option<i64>> {
        let resp = self
            .store
            .txn(TxnRequest {
                compare: vec![Compare::mod_revision_is(key, mod_revision)],
                success: vec![op],
                failure: vec![],
            })
            .await?;
        Ok(resp.succeeded.then_some(resp.header.revision))
    }

    // ---------------------------------------------------------------- reads

    /// Reads one object by name.
    ///
    /// Errors: [`Error::NotFound`]; [`Error::Decode`] if the stored value
    /// does not fit `K`.
    pub async fn get(&self, name: &str) -> Result<K> {
        let ns = self.request_namespace();
        let kv = self.read_existing(ns, name).await?;
        self.decode(&kv)
    }

    /// Reads one object by name, `None` if it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        match self.read(self.request_namespace(), name).await? {
            Some(kv) => self.decode(&kv).map(Some),
            None => Ok(None),
        }
    }

    /// Lists objects, optionally filtered by label and field selectors and
    /// paged. All pages of one list are read at the same revision; a
    /// `continue_token` whose revision has been compacted fails with
    /// [`Error::Gone`].
    ///
    /// Errors: [`Error::Selector`] for a bad selector or a field this kind
    /// does not support.
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>> {
        let labels: LabelSelector = params.label_selector.as_deref().unwrap_or("").parse()?;
        let fields: FieldSelector = params.field_selector.as_deref().unwrap_or("").parse()?;
        let prefix = self.resource.key_prefix(self.namespace.as_deref());
        let end = crate::store::prefix_end(prefix.as_bytes());
        let (mut revision, mut start) = match &params.continue_token {
            Some(token) => decode_continue(token)?,
            None => (0, Bytes::from(prefix.clone())),
        };
        let limit = params.limit.map(|l| l.max(1) as usize);
        let filtering = !labels.is_empty() || !fields.is_empty();
        let mut items = Vec::new();
        let mut continue_token = None;
        loop {
            let page = match (limit, filtering) {
                (None, _) => 0,
                (Some(l), false) => l - items.len(),
                (Some(l), true) => (l - items.len()).max(64),
            };
            let resp = self
                .store
                .range(RangeRequest {
                    range: KeyRange::between(start.clone(), end.clone()),
                    revision,
                    limit: page as i64,
                    ..Default::default()
                })
                .await
                .map_err(|e| match e {
                    Error::Compacted { compact_revision, .. } => Error::Gone {
                        resource: self.resource.plural.clone(),
                        resource_version: revision.to_string(),
                        compact_revision,
                    },
                    other => other,
                })?;
            if revision == 0 {
                revision = resp.header.revision;
            }
            let mut last_key = None;
            for kv in &resp.kvs {
                last_key = Some(kv.key.clone());
                let obj = self.decode(kv)?;
                if !fields.is_empty() {
                    fields.check_supported(&obj)?;
                }
                if labels.matches(&obj.meta().labels) && fields.matches(&obj) {
                    items.push(obj);
                    if limit.is_some_and(|l| items.len() >= l) {
                        break;
                    }
                }
            }
            let stopped_early = last_key.as_ref() != resp.kvs.last().map(|kv| &kv.key);
            let more = resp.more || stopped_early;
            if more {
                if let Some(last) = last_key {
                    let mut next = last.to_vec();
                    next.push(0);
                    start = Bytes::from(next);
                }
            }
            let full = limit.is_some_and(|l| items.len() >= l);
            if !more {
                break;
            }
            if full {
                continue_token = Some(encode_continue(revision, &start));
                break;
            }
        }
        Ok(ObjectList { items, resource_version: revision.to_string(), continue_token })
    }

    // ---------------------------------------------------------------- writes

    /// Creates an object. Sets `uid`, `creationTimestamp`, `generation` 1 and
    /// `resourceVersion`; fills `apiVersion`/`kind`; puts a namespaced object
    /// without a namespace in this Api's namespace (or `default`). With an
    /// empty `name` and a `generateName`, picks `generateName` + 5 random
    /// characters.
    ///
    /// Errors: [`Error::AlreadyExists`]; [`Error::Invalid`] (names, labels,
    /// per-kind rules, a `resourceVersion` set, a mismatched
    /// namespace/apiVersion/kind); [`Error::TooLarge`];
    /// [`Error::AdmissionDenied`].
    pub async fn create(&self, obj: &K) -> Result<K> {
        let mut obj = obj.clone();
        let namespace = self.namespace_of(&obj.meta().namespace)?;
        let object = self.object_name(&namespace, &obj.meta().name);
        self.check_type_meta(&mut obj, &object)?;
        let meta = obj.meta_mut();
        meta.namespace = namespace.clone();
        if !meta.resource_version.is_empty() {
            return Err(Error::Invalid {
                object,
                field: "metadata.resourceVersion".into(),
                reason: "must not be set on create".into(),
            });
        }
        let generate = meta.name.is_empty() && !meta.generate_name.is_empty();
        if meta.name.is_empty() && !generate {
            return Err(Error::Invalid {
                object,
                field: "metadata.name".into(),
                reason: "name or generateName is required".into(),
            });
        }
        meta.uid = uuid::Uuid::new_v4().to_string();
        meta.creation_timestamp = Some(Time::now());
        meta.generation = 1;
        meta.deletion_timestamp = None;
        meta.deletion_grace_period_seconds = None;
        let attempts = if generate { 8 } else { 1 };
        for _ in 0..attempts {
            if generate {
                let name = format!("{}{}", obj.meta().generate_name, random_suffix());
                obj.meta_mut().name = name;
            }
            let admitted = self.admit(Operation::Create, obj.clone(), None).await?;
            let object = self.object_name(&namespace, &admitted.meta().name);
            let key = self.key(&namespace, &admitted.meta().name);
            let value = self.encode(&admitted, &object)?;
            let resp = self
                .store
                .txn(TxnRequest {
                    compare: vec![Compare::absent(key.clone())],
                    success: vec![TxnOp::Put(PutRequest::new(key, value))],
                    failure: vec![],
                })
                .await?;
            if resp.succeeded {
                let mut created = admitted;
                created.meta_mut().resource_version = resp.header.revision.to_string();
                return Ok(created);
            }
            if !generate {
                return Err(Error::AlreadyExists { object });
            }
        }
        Err(Error::AlreadyExists { object: self.object_name(&namespace, &obj.meta().name) })
    }

    /// Replaces an object's desired state (not its status, if the kind has a
    /// status subresource). With `resourceVersion` set, fails with
    /// [`Error::Conflict`] if the object changed since; without, overwrites.
    /// A replace that changes nothing writes nothing.
    ///
    /// Errors: as [`create`](Self::create), plus [`Error::NotFound`] and
    /// [`Error::Conflict`].
    pub async fn replace(&self, obj: &K) -> Result<K> {
        self.replace_part(obj, Part::Main).await
    }

    /// Replaces only the status (metadata and spec stay as stored).
    ///
    /// Errors: as [`replace`](Self::replace).
    pub async fn replace_status(&self, obj: &K) -> Result<K> {
        self.replace_part(obj, Part::Status).await
    }

    async fn replace_part(&self, obj: &K, part: Part) -> Result<K> {
        let namespace = self.namespace_of(&obj.meta().namespace)?;
        let name = obj.meta().name.clone();
        let object = self.object_name(&namespace, &name);
        let expected = Self::parse_resource_version(&obj.meta().resource_version, &object)?;
        let new = Self::to_value(obj, &object)?;
        let uid = obj.meta().uid.clone();
        self.update(&namespace, &name, expected, Some(uid), part, |_| Ok(new.clone())).await
    }

    /// Applies a JSON merge patch (RFC 7386) to the stored object and writes
    /// the result, as `kubectl patch --type merge`. A `metadata.resourceVersion`
    /// in the patch is a precondition. On kinds with a status subresource,
    /// status changes in the patch are ignored.
    ///
    /// Errors: as [`replace`](Self::replace); [`Error::Invalid`] naming the
    /// field if the patched object does not fit `K`.
    pub async fn patch(&self, name: &str, patch: &Value) -> Result<K> {
        self.patch_part(name, patch, Part::Main).await
    }

    /// Applies a JSON merge patch to the status only.
    ///
    /// Errors: as [`patch`](Self::patch).
    pub async fn patch_status(&self, name: &str, patch: &Value) -> Result<K> {
        self.patch_part(name, patch, Part::Status).await
    }

    async fn patch_part(&self, name: &str, patch: &Value, part: Part) -> Result<K> {
        let namespace = self.request_namespace().to_owned();
        let object = self.object_name(&namespace, name);
        let expected = match patch.pointer("/metadata/resourceVersion") {
            Some(Value::String(rv)) => Self::parse_resource_version(rv, &object)?,
            _ => None,
        };
        self.update(&namespace, name, expected, None, part, |current| {
            let mut value = current.clone();
            json_patch::merge(&mut value, patch);
            Ok(value)
        })
        .await
    }

    /// The read-modify-write loop behind replace, patch and the status writes.
    async fn update(
        &self,
        namespace: &str,
        name: &str,
        expected: Option<i64>,
        uid: Option<String>,
        part: Part,
        make: impl Fn(&Value) -> Result<Value>,
    ) -> Result<K> {
        let object = self.object_name(namespace, name);
        for _ in 0..MAX_RETRIES {
            let kv = self.read_existing(namespace, name).await?;
            if let Some(rv) = expected {
                if rv != kv.mod_revision {
                    return Err(Error::Conflict {
                        object,
                        expected: rv.to_string(),
                        actual: kv.mod_revision.to_string(),
                    });
                }
            }
            let current: Value = serde_json::from_slice(&kv.value).map_err(|source| {
                Error::Decode { object: object.clone(), kind: self.resource.kind.clone(), source }
            })?;
            if let Some(uid) = uid.as_deref().filter(|u| !u.is_empty()) {
                let stored = current.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
                if stored != uid {
                    return Err(Error::Conflict {
                        object,
                        expected: format!("uid {uid}"),
                        actual: format!("uid {stored}"),
                    });
                }
            }
            let proposed = make(&current)?;
            let merged = self.merge_update(&current, proposed, part, &object)?;
            let mut obj = Self::from_value(merged, &object)?;
            self.check_type_meta(&mut obj, &object)?;
            let mut obj = self.admit(Operation::Update, obj, Some(&current)).await?;
            if part == Part::Main
                && desired_state_changed(&current, &Self::to_value(&obj, &object)?)
            {
                obj.meta_mut().generation += 1;
            }
            let key = self.key(namespace, name);
            let deleting = obj.meta().deletion_timestamp.is_some();
            let (op, mut result) = if deleting && obj.meta().finalizers.is_empty() {
                // The last finalizer is gone: the object goes.
                (
                    TxnOp::DeleteRange(DeleteRangeRequest {
                        range: KeyRange::key(key.clone()),
                        prev_kv: false,
                    }),
                    obj,
                )
            } else {
                let value = self.encode(&obj, &object)?;
                if value == kv.value {
                    // Nothing changed: nothing is written, as Kubernetes.
                    let mut unchanged = obj;
                    unchanged.meta_mut().resource_version = kv.mod_revision.to_string();
                    return Ok(unchanged);
                }
                (TxnOp::Put(PutRequest::new(key.clone(), value)), obj)
            };
            if let Some(revision) = self.write_if_unchanged(key, kv.mod_revision, op).await? {
                result.meta_mut().resource_version = revision.to_string();
                return Ok(result);
            }
            if let Some(rv) = expected {
                return Err(Error::Conflict {
                    object,
                    expected: rv.to_string(),
                    actual: "newer".into(),
                });
            }
        }
        Err(Error::Conflict {
            object,
            expected: "any".into(),
            actual: format!("changed on each of {MAX_RETRIES} attempts"),
        })
    }

    /// Builds the object an update stores from the stored one and the
    /// proposed one: server-set metadata is kept, and the status or the rest
    /// is kept depending on `part`.
    fn merge_update(
        &self,
        current: &Value,
        proposed: Value,
        part: Part,
        object: &str,
    ) -> Result<Value> {
        let not_object = || Error::Invalid {
            object: object.to_owned(),
            field: ".".into(),
            reason: "must be a JSON object".into(),
        };
        let current_map = current.as_object().ok_or_else(not_object)?;
        let mut new = match proposed {
            Value::Object(map) => map,
            _ => return Err(not_object()),
        };
        if part == Part::Status {
            let status = new.remove("status");
            new = current_map.clone();
            match status {
                Some(s) if !s.is_null() => new.insert("status".into(), s),
                _ => new.remove("status"),
            };
            return Ok(Value::Object(new));
        }
        if self.resource.status_subresource && part == Part::Main {
            match current_map.get("status") {
                Some(s) => new.insert("status".into(), s.clone()),
                None => new.remove("status"),
            };
        }
        let empty = serde_json::Map::new();
        let current_meta = current_map.get("metadata").and_then(Value::as_object).unwrap_or(&empty);
        let meta = new.entry("metadata").or_insert_with(|| Value::Object(Default::default()));
        let meta = meta.as_object_mut().ok_or_else(|| Error::Invalid {
            object: object.to_owned(),
            field: "metadata".into(),
            reason: "must be a JSON object".into(),
        })?;
        for field in ["name", "namespace"] {
            let given = meta.get(field).and_then(Value::as_str).unwrap_or("");
            let stored = current_meta.get(field).and_then(Value::as_str).unwrap_or("");
            if !given.is_empty() && given != stored {
                return Err(Error::Invalid {
                    object: object.to_owned(),
                    field: format!("metadata.{field}"),
                    reason: format!("may not change ({stored:?} to {given:?})"),
                });
            }
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match current_meta.get(field) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        meta.remove("resourceVersion");
        Ok(Value::Object(new))
    }

    /// Deletes an object. If it has finalizers (or the propagation policy
    /// adds one), it gets a `deletionTimestamp` instead and goes when the
    /// last finalizer is removed. Kinds with graceful deletion (a Pod bound
    /// to a node) also get a `deletionTimestamp` and `deletionGracePeriodSeconds`
    /// (from `params.grace_period_seconds`, else the kind's default) and go
    /// when deleted again with a grace period of 0, as Kubernetes.
    ///
    /// Errors: [`Error::NotFound`]; [`Error::Conflict`] if a precondition
    /// fails; [`Error::AdmissionDenied`].
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<DeleteOutcome<K>> {
        let namespace = self.request_namespace().to_owned();
        let object = self.object_name(&namespace, name);
        for _ in 0..MAX_RETRIES {
            let kv = self.read_existing(&namespace, name).await?;
            let current = self.decode(&kv)?;
            if let Some(pre) = &params.preconditions {
                if let Some(uid) = pre.uid.as_deref().filter(|u| *u != current.meta().uid) {
                    return Err(Error::Conflict {
                        object,
                        expected: format!("uid {uid}"),
                        actual: format!("uid {}", current.meta().uid),
                    });
                }
                if let Some(rv) = pre
                    .resource_version
                    .as_deref()
                    .filter(|rv| *rv != current.meta().resource_version)
                {
                    return Err(Error::Conflict {
                        object,
                        expected: rv.to_owned(),
                        actual: current.meta().resource_version.clone(),
                    });
                }
            }
            if !self.admission.validating.is_empty() {
                let old = Self::to_value(&current, &object)?;
                let req = AdmissionRequest {
                    operation: Operation::Delete,
                    resource: &self.resource,
                    namespace: &namespace,
                    name,
                    old_object: Some(&old),
                };
                for hook in &self.admission.validating {
                    hook.validate(&req, None).await.map_err(|reason| Error::AdmissionDenied {
                        hook: hook.name().to_owned(),
                        operation: Operation::Delete.to_string(),
                        object: object.clone(),
                        reason,
                    })?;
                }
            }
            let mut next = current.clone();
            let meta = next.meta_mut();
            let policy_finalizer = match params.propagation_policy {
                Some(PropagationPolicy::Orphan) => Some(FINALIZER_ORPHAN),
                Some(PropagationPolicy::Foreground) => Some(FINALIZER_FOREGROUND),
                _ => None,
            };
            let mut added = false;
            if let Some(f) = policy_finalizer {
                if !meta.finalizers.iter().any(|x| x == f) {
                    meta.finalizers.push(f.to_owned());
                    added = true;
                }
            }
            let key = self.key(&namespace, name);
            // Graceful deletion (bound Pods): mark it; the node agent finishes.
            let grace = params
                .grace_period_seconds
                .or_else(|| current.graceful_deletion_seconds())
                .filter(|g| *g > 0);
            let graceful = grace.is_some() && current.graceful_deletion_seconds().is_some();
            if graceful && meta.finalizers.is_empty() {
                if meta.deletion_timestamp.is_some() {
                    return Ok(DeleteOutcome::Finalizing(current));
                }
                meta.deletion_timestamp = Some(Time::now());
                meta.deletion_grace_period_seconds = grace;
                meta.generation += 1;
                let mut stored = next.clone();
                stored.meta_mut().resource_version.clear();
                let put = TxnOp::Put(PutRequest::new(key.clone(), self.encode(&stored, &object)?));
                if let Some(revision) = self.write_if_unchanged(key, kv.mod_revision, put).await? {
                    next.meta_mut().resource_version = revision.to_string();
                    return Ok(DeleteOutcome::Finalizing(next));
                }
                continue;
            }
            let (op, finalizing) = if meta.finalizers.is_empty() {
                (
                    TxnOp::DeleteRange(DeleteRangeRequest {
                        range: KeyRange::key(key.clone()),
                        prev_kv: false,
                    }),
                    false,
                )
            } else {
                if meta.deletion_timestamp.is_none() {
                    meta.deletion_timestamp = Some(Time::now());
                    meta.deletion_grace_period_seconds =
                        Some(params.grace_period_seconds.unwrap_or(0));
                    meta.generation += 1;
                } else if !added {
                    // Already deleting and nothing to add: nothing to write.
                    return Ok(DeleteOutcome::Finalizing(current));
                }
                let mut stored = next.clone();
                stored.meta_mut().resource_version.clear();
                (TxnOp::Put(PutRequest::new(key.clone(), self.encode(&stored, &object)?)), true)
            };
            if let Some(revision) = self.write_if_unchanged(key, kv.mod_revision, op).await? {
                next.meta_mut().resource_version = revision.to_string();
                return Ok(if finalizing {
                    DeleteOutcome::Finalizing(next)
                } else {
                    DeleteOutcome::Deleted(next)
                });
            }
        }
        Err(Error::Conflict {
            object,
            expected: "any".into(),
            actual: format!("changed on each of {MAX_RETRIES} attempts"),
        })
    }

    /// Watches objects from just after `resource_version` (`""` or `"0"`:
    /// from now). Follow a [`list`](Self::list) with a watch from the list's
    /// `resource_version` to see every later change exactly once.
    ///
    /// The stream yields [`WatchEvent`]s; it ends with [`Error::Gone`] when
    /// the history it needs was compacted (relist, then watch again), and
    /// yields [`Error::Decode`] for a stored value that does not fit `K`
    /// without ending.
    ///
    /// Errors: [`Error::Selector`]; [`Error::Invalid`] for a resourceVersion
    /// that is not a number.
    pub async fn watch(
        &self,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchEvent<K>>>> {
        watch::watch(self.clone(), params, resource_version).await
    }
}

impl Api<Pod> {
    /// Binds a pending pod to a node in one write, as Kubernetes'
    /// `pods/binding` subresource: sets `spec.nodeName` and the
    /// `PodScheduled=True` condition. `preconditions` as a Binding's: with
    /// a uid, the pod must be that one (not a pod re-created under the same
    /// name since it was scheduled — kube-scheduler sets it); with a
    /// resourceVersion, it must not have changed since.
    ///
    /// Errors: [`Error::NotFound`]; [`Error::Conflict`] if the pod is already
    /// bound (to any node), is another pod than `preconditions.uid`, or
    /// changed since `preconditions.resource_version`.
    pub async fn bind(&self, name: &str, node: &str, preconditions: &Preconditions) -> Result<Pod> {
        let namespace = self.request_namespace().to_owned();
        let object = self.object_name(&namespace, name);
        let expected = match preconditions.resource_version.as_deref() {
            Some(rv) => Self::parse_resource_version(rv, &object)?,
            None => None,
        };
        let now = serde_json::to_value(Time::now()).unwrap_or(Value::Null);
        self.update(&namespace, name, expected, None, Part::Both, |current| {
            let mut pod = current.clone();
            let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
            if let Some(want) = preconditions.uid.as_deref().filter(|want| *want != uid) {
                return Err(Error::Conflict {
                    object: object.clone(),
                    expected: format!("uid {want}"),
                    actual: format!("uid {uid}"),
                });
            }
            let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty());
            if let Some(existing) = bound {
                return Err(Error::Conflict {
                    object: object.clone(),
                    expected: "an unbound pod".into(),
                    actual: format!("bound to {existing}"),
                });
            }
            pod["spec"]["nodeName"] = Value::from(node);
            if !pod["status"].is_object() {
                pod["status"] = serde_json::json!({});
            }
            let status = &mut pod["status"];
            if status.get("phase").is_none() {
                status["phase"] = Value::from("Pending");
            }
            let condition = serde_json::json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now});
            let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
            let mut kept: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
            kept.push(condition);
            status["conditions"] = Value::Array(kept);
            Ok(pod)
        })
        .await
    }
}

/// True if anything but metadata, status and the type fields differs.
fn desired_state_changed(old: &Value, new: &Value) -> bool {
    let desired = |v: &Value| -> Vec<(String, Value)> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    desired(old) != desired(new)
}

fn random_suffix() -> String {
    // Kubernetes' alphabet for generated names: no vowels, no look-alikes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn encode_continue(revision: i64, start: &[u8]) -> String {
    let mut raw = revision.to_string().into_bytes();
    raw.push(b'\n');
    raw.extend_from_slice(start);
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(i64, Bytes)> {
    let invalid = || Error::Invalid {
        object: "list".into(),
        field: "continue".into(),
        reason: format!("{token:?} is not a continue token from this store"),
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let split = raw.iter().position(|b| *b == b'\n').ok_or_else(invalid)?;
    let revision =
        std::str::from_utf8(&raw[..split]).ok().and_then(|r| r.parse().ok()).ok_or_else(invalid)?;
    Ok((revision, Bytes::copy_from_slice(&raw[split + 1..])))
}
