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
//!   (names, labels, size ≤ 1.5 MiB, per-kind rules and, on updates, what
//!   may not change: a Pod's spec but for images and added tolerations, a
//!   workload's selector, an immutable ConfigMap's or Secret's data) and
//!   the validating hooks. A Secret's `stringData` is merged into `data`.
//! * A continue token only pages through the list it came from: one whose
//!   key lies outside the list (another namespace's, another kind's) is
//!   refused with `Invalid`.
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

// This file: the `Api` struct, its constructors and the helpers every
// request uses (keys, encode/decode, admission, compare-and-write). The
// requests are in the files named after them.
mod bind;
mod create;
mod delete;
mod params;
mod read;
mod remote;
mod ttl;
mod update;
mod watch;

pub use delete::{FINALIZER_FOREGROUND, FINALIZER_ORPHAN};
pub use params::{
    DeleteOutcome, DeleteParams, ListParams, Preconditions, PropagationPolicy, WatchParams,
};
pub use remote::ObjectApi;
pub use ttl::{TtlLeases, DEFAULT_EVENT_TTL};
pub use watch::WatchEvent;

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::admission::{AdmissionChain, AdmissionRequest, Operation};
use crate::dynamic::DynamicObject;
use crate::resource::{ApiResource, Object, Resource};
use crate::store::{
    Compare, KeyRange, KeyValue, PutRequest, RangeRequest, Store, TxnOp, TxnRequest,
};
use crate::validation::{self, FieldErrors, MAX_OBJECT_BYTES};
use crate::{Error, Result};

/// How many times an unconditional write retries after losing a race.
const MAX_RETRIES: usize = 16;

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
    ttl: Option<Arc<TtlLeases>>,
    dry_run: bool,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            store: self.store.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            admission: self.admission.clone(),
            ttl: self.ttl.clone(),
            dry_run: self.dry_run,
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
            ttl: None,
            dry_run: false,
            _kind: PhantomData,
        }
    }

    /// The same Api in dry-run mode (Kubernetes' `dryRun=All`): creates,
    /// updates, patches and deletes are validated and admitted as usual
    /// and answer the object as it would be, but nothing is written. A
    /// dry-run create's object has no resourceVersion; an update's keeps
    /// the stored one.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// The same Api with an admission chain that runs on every write.
    #[must_use]
    pub fn with_admission(mut self, chain: AdmissionChain) -> Self {
        self.admission = chain;
        self
    }

    /// The same Api with objects that expire: every create and update
    /// attaches the object to one of `leases`' store leases, so it is
    /// deleted `leases.ttl()` after its last write (kube-apiserver's
    /// `--event-ttl`; see [`TtlLeases`]).
    #[must_use]
    pub fn with_ttl(mut self, leases: Arc<TtlLeases>) -> Self {
        self.ttl = Some(leases);
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

    /// A put of `value` at `key`, attached to the TTL lease if this Api has
    /// one.
    async fn put_request(&self, key: impl Into<Bytes>, value: Bytes) -> Result<PutRequest> {
        let mut put = PutRequest::new(key, value);
        if let Some(ttl) = &self.ttl {
            put.lease = ttl.lease(self.store.as_ref()).await?;
        }
        Ok(put)
    }

    /// Forgets the TTL lease a failed write named, if it was gone.
    fn lease_failed(&self, error: &Error) {
        if let Some(ttl) = &self.ttl {
            ttl.forget(error);
        }
    }

    /// `obj` as it is stored: without its resourceVersion (that is the
    /// key's `mod_revision`).
    fn unversioned(obj: &K) -> K {
        let mut stored = obj.clone();
        stored.meta_mut().resource_version.clear();
        stored
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

    /// Mutating hooks, built-in validation, validating hooks, as
    /// kube-apiserver orders them; the kind's [`Object::prepare_for_write`]
    /// before and after the mutating hooks. `old` is the stored object of
    /// an update; `desired` says the update writes the desired state (not
    /// only the status), so the kind's [`Object::validate_update`] rules
    /// apply.
    async fn admit(
        &self,
        op: Operation,
        mut obj: K,
        old: Option<&Value>,
        desired: bool,
    ) -> Result<K> {
        obj.prepare_for_write();
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
            obj.prepare_for_write();
            if obj.meta().name != name || obj.meta().namespace != namespace {
                return Err(Error::Invalid {
                    object,
                    field: "metadata.name".into(),
                    reason: "an admission hook may not change the name or namespace".into(),
                });
            }
        }
        let mut errors = FieldErrors::default();
        validation::object_meta(
            obj.meta(),
            &self.resource.group,
            self.resource.namespaced,
            &mut errors,
        );
        obj.validate(&mut errors);
        if let Some(old) = old.filter(|_| desired) {
            obj.validate_update(&Self::from_value(old.clone(), &object)?, &mut errors);
        }
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
            .await
            .inspect_err(|e| self.lease_failed(e))?;
        Ok(resp.succeeded.then_some(resp.header.revision))
    }
}
