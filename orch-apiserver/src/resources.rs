//! The kinds the server serves, each through its typed [`Api`] so that the
//! kind's own validation, defaulting, finalizers and graceful deletion run
//! on every request exactly as they do for an embedded controller. Bodies
//! and answers are JSON values; the HTTP layer never sees `K`.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use orch_core::admission::AdmissionChain;
use orch_core::api::{
    DeleteOutcome, DeleteParams, ListParams, Preconditions, PropagationPolicy, WatchEvent,
    WatchParams,
};
use orch_core::store::Store;
use orch_core::{Api, ApiResource, Error, Resource, Result};
use serde_json::Value;

use crate::discovery::ResourceInfo;
use crate::openapi::KindSchema;

/// What the kinds' operations run against: the store, and the admission
/// chain every write through the server passes (as kube-apiserver's
/// mutating and validating admission). Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The admission hooks of every create, update and delete.
    pub admission: AdmissionChain,
    /// Kubernetes' `dryRun=All`: writes are validated and admitted, and
    /// answer what they would store, but store nothing.
    pub dry_run: bool,
}

impl Backend {
    /// An Api of `K` over the store, with the admission chain and the
    /// dry-run mode (`namespace` `None`: cluster-scoped, or all namespaces).
    pub fn api<K: Resource>(&self, namespace: Option<&str>) -> Api<K> {
        let api = match namespace {
            Some(ns) => Api::namespaced(self.store.clone(), ns),
            None => Api::all(self.store.clone()),
        };
        let api = api.with_admission(self.admission.clone());
        if self.dry_run {
            api.dry_run()
        } else {
            api
        }
    }
}

/// One watch event as the wire carries it: `ADDED`, `MODIFIED`,
/// `DELETED` or `BOOKMARK`, and the object.
pub type WireEvent = (&'static str, Value);

/// A patch as a function from the stored object to the object to write.
pub type PatchFn<'a> = dyn Fn(&Value) -> Result<Value> + Send + Sync + 'a;

/// A list's items, its resourceVersion and its continue token.
pub type ListPage = (Vec<Value>, String, Option<String>);

/// What the server can do with one kind. `namespace` is `None` for a
/// cluster-scoped kind, or for a namespaced kind across all namespaces.
#[async_trait]
pub trait ResourceOps: Send + Sync {
    /// The kind as discovery describes it.
    fn info(&self) -> &ResourceInfo;
    /// The kind's schema, if its type has one: what `/openapi/v3` serves
    /// and strategic merge patch reads.
    fn schema(&self) -> Option<&KindSchema>;
    /// The paths of the fields in `body` this kind does not model
    /// (`spec.template.spec.securityContext`): they are dropped on write.
    fn unknown_fields(&self, body: &Value) -> Vec<String>;
    /// `GET …/{name}`.
    async fn get(&self, store: Backend, namespace: Option<&str>, name: &str) -> Result<Value>;
    /// `GET …` (a list page).
    async fn list(
        &self,
        store: Backend,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ListPage>;
    /// `GET …` as the JSON bytes of the list (`{"kind":"PodList",…}`),
    /// each object serialized once, straight from the kind: the fast path
    /// for clients that want JSON, not a Table.
    async fn list_json(
        &self,
        store: Backend,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<Vec<u8>>;
    /// `GET …?watch=true` from `resource_version`.
    async fn watch(
        &self,
        store: Backend,
        namespace: Option<&str>,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WireEvent>>>;
    /// `POST …`.
    async fn create(&self, store: Backend, namespace: Option<&str>, body: Value) -> Result<Value>;
    /// `PATCH …/{name}` with a JSON merge patch (`status`: the status
    /// subresource).
    async fn merge_patch(
        &self,
        store: Backend,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value>;
    /// `PATCH …/{name}` with any patch: `patch` turns the stored object
    /// into the one to write (see [`Api::patch_with`]); `resource_version`
    /// is a precondition.
    async fn patch_with(
        &self,
        store: Backend,
        namespace: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
        status: bool,
        patch: &PatchFn<'_>,
    ) -> Result<Value>;
    /// `DELETE …/{name}`: the object as it is after the call — gone, or
    /// still there with a `deletionTimestamp` (finalizers, a grace period).
    async fn delete(
        &self,
        store: Backend,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<Value>>;
}

/// [`ResourceOps`] through `Api<K>`.
pub struct Typed<K> {
    info: ResourceInfo,
    schema: Option<KindSchema>,
    _kind: PhantomData<fn() -> K>,
}

impl<K: Resource> Typed<K> {
    /// The operations of `K`, described by `info`, with `K`'s schema if
    /// it has one.
    pub fn new(info: ResourceInfo, schema: Option<KindSchema>) -> Self {
        Typed { info, schema, _kind: PhantomData }
    }

    fn api(backend: Backend, namespace: Option<&str>) -> Api<K> {
        backend.api(namespace)
    }

    fn to_value(obj: &K, resource: &ApiResource) -> Result<Value> {
        let mut v = serde_json::to_value(obj).map_err(|e| Error::Decode {
            object: format!("{}/{}", resource.plural, obj.meta().name),
            kind: resource.kind.clone(),
            source: e,
        })?;
        // Objects carry their type, as the API server's answers do.
        if let Some(map) = v.as_object_mut() {
            map.insert("apiVersion".into(), Value::String(resource.api_version.clone()));
            map.insert("kind".into(), Value::String(resource.kind.clone()));
        }
        Ok(v)
    }

    fn from_value(body: Value, resource: &ApiResource) -> Result<K> {
        serde_json::from_value(body).map_err(|e| Error::Invalid {
            object: resource.plural.clone(),
            field: "body".into(),
            reason: e.to_string(),
        })
    }
}

#[async_trait]
impl<K: Resource> ResourceOps for Typed<K> {
    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn schema(&self) -> Option<&KindSchema> {
        self.schema.as_ref()
    }

    fn unknown_fields(&self, body: &Value) -> Vec<String> {
        // A body that does not fit is refused by the write itself.
        let mut unknown = orch_core::manifest::unknown_fields::<K>(body.clone());
        unknown.retain(|p| p != "status" && !p.starts_with("status."));
        unknown
    }

    async fn get(&self, store: Backend, namespace: Option<&str>, name: &str) -> Result<Value> {
        let obj = Self::api(store, namespace).get(name).await?;
        Self::to_value(&obj, &self.info.resource)
    }

    async fn list(
        &self,
        store: Backend,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ListPage> {
        let list = Self::api(store, namespace).list(params).await?;
        let items = list
            .items
            .iter()
            .map(|o| Self::to_value(o, &self.info.resource))
            .collect::<Result<Vec<_>>>()?;
        Ok((items, list.resource_version, list.continue_token))
    }

    async fn list_json(
        &self,
        store: Backend,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<Vec<u8>> {
        let r = &self.info.resource;
        let list = Self::api(store, namespace).list(params).await?;
        let head =
            crate::server::list_head(r, &list.resource_version, list.continue_token.as_deref())
                .to_string();
        // `{…head…,"items":[…]}`: the head's closing brace reopened.
        let mut out = Vec::with_capacity(list.items.len() * 512 + head.len() + 16);
        out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        out.extend_from_slice(b",\"items\":[");
        for (i, mut obj) in list.items.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            obj.set_type_meta(&r.api_version, &r.kind);
            serde_json::to_writer(&mut out, &obj).map_err(|e| Error::Decode {
                object: format!("{}/{}", r.plural, obj.meta().name),
                kind: r.kind.clone(),
                source: e,
            })?;
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    async fn watch(
        &self,
        store: Backend,
        namespace: Option<&str>,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WireEvent>>> {
        let resource = self.info.resource.clone();
        let events = Self::api(store, namespace).watch(params, resource_version).await?;
        Ok(events
            .map(move |e| {
                let (kind, obj) = match e? {
                    WatchEvent::Added(o) => ("ADDED", o),
                    WatchEvent::Modified(o) => ("MODIFIED", o),
                    WatchEvent::Deleted(o) => ("DELETED", o),
                    WatchEvent::Bookmark { resource_version } => {
                        let bookmark = serde_json::json!({
                            "kind": resource.kind,
                            "apiVersion": resource.api_version,
                            "metadata": {"resourceVersion": resource_version},
                        });
                        return Ok(("BOOKMARK", bookmark));
                    }
                };
                Ok((kind, Self::to_value(&obj, &resource)?))
            })
            .boxed())
    }

    async fn create(&self, store: Backend, namespace: Option<&str>, body: Value) -> Result<Value> {
        let obj = Self::from_value(body, &self.info.resource)?;
        let created = Self::api(store, namespace).create(&obj).await?;
        Self::to_value(&created, &self.info.resource)
    }

    async fn merge_patch(
        &self,
        store: Backend,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value> {
        let api = Self::api(store, namespace);
        let patched = if status {
            api.patch_status(name, patch).await?
        } else {
            api.patch(name, patch).await?
        };
        Self::to_value(&patched, &self.info.resource)
    }

    async fn patch_with(
        &self,
        store: Backend,
        namespace: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
        status: bool,
        patch: &PatchFn<'_>,
    ) -> Result<Value> {
        let api = Self::api(store, namespace);
        let patched = if status {
            api.patch_status_with(name, resource_version, patch).await?
        } else {
            api.patch_with(name, resource_version, patch).await?
        };
        Self::to_value(&patched, &self.info.resource)
    }

    async fn delete(
        &self,
        store: Backend,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<Value>> {
        let r = &self.info.resource;
        Ok(match Self::api(store, namespace).delete(name, params).await? {
            DeleteOutcome::Deleted(obj) => DeleteOutcome::Deleted(Self::to_value(&obj, r)?),
            DeleteOutcome::Finalizing(obj) => DeleteOutcome::Finalizing(Self::to_value(&obj, r)?),
        })
    }
}

/// `DeleteOptions` (meta/v1) from a DELETE's JSON body and query:
/// `propagationPolicy` (`Foreground`, `Background`, `Orphan`),
/// `gracePeriodSeconds`, `preconditions {uid, resourceVersion}`; the
/// query's values win over the body's.
///
/// Errors: a message for a body that is not DeleteOptions JSON or an
/// unknown propagation policy.
pub fn delete_params(
    body: Option<&Value>,
    query: &BTreeMap<String, String>,
) -> std::result::Result<DeleteParams, String> {
    let field = |name: &str| -> Option<Value> {
        query
            .get(name)
            .map(|v| v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(v.clone())))
            .or_else(|| body.and_then(|b| b.get(name)).cloned())
    };
    let mut params = DeleteParams::default();
    if let Some(p) = field("propagationPolicy") {
        params.propagation_policy = Some(match p.as_str() {
            Some("Foreground") => PropagationPolicy::Foreground,
            Some("Background") => PropagationPolicy::Background,
            Some("Orphan") => PropagationPolicy::Orphan,
            _ => return Err(format!("propagationPolicy {p}: Foreground, Background or Orphan")),
        });
    }
    if let Some(g) = field("gracePeriodSeconds") {
        params.grace_period_seconds =
            Some(g.as_i64().ok_or_else(|| format!("gracePeriodSeconds {g}: an integer"))?);
    }
    if let Some(pre) = body.and_then(|b| b.get("preconditions")) {
        let text = |k: &str| pre.get(k).and_then(Value::as_str).map(str::to_owned);
        params.preconditions =
            Some(Preconditions { uid: text("uid"), resource_version: text("resourceVersion") });
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_options_come_from_the_body_and_the_query() {
        let body = serde_json::json!({"propagationPolicy": "Foreground", "gracePeriodSeconds": 5,
            "preconditions": {"resourceVersion": "7"}});
        let p = delete_params(Some(&body), &BTreeMap::new()).unwrap();
        assert_eq!(p.propagation_policy, Some(PropagationPolicy::Foreground));
        assert_eq!(p.grace_period_seconds, Some(5));
        assert_eq!(p.preconditions.unwrap().resource_version.as_deref(), Some("7"));
        let query = BTreeMap::from([("gracePeriodSeconds".to_string(), "0".to_string())]);
        assert_eq!(delete_params(Some(&body), &query).unwrap().grace_period_seconds, Some(0));
        let bad = serde_json::json!({"propagationPolicy": "Sideways"});
        assert!(delete_params(Some(&bad), &BTreeMap::new()).is_err());
    }
}
