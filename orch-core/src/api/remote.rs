//! [`Api`] over an API server instead of a key-value store, as kube-rs'
//! `Api` over its `Client`: when the [`Store`](crate::store::Store) an
//! `Api` is built on is a client of an API server (its
//! [`object_api`](crate::store::Store::object_api) is `Some`, as
//! `orch_apiserver::Client`'s is), each call becomes one request to that
//! server — get, list, watch, create, replace, merge patch, delete and
//! `pods/binding` — and the server validates, admits, authorizes and
//! stores. So controllers, the scheduler and node agents written against
//! `Api<K>` and the informers run unchanged in another process, with
//! their own credentials.
//!
//! What stays on the client: decoding into `K`, and [`Api::patch_with`]'s
//! read-modify-write loop (a GET, the function, a PUT with the
//! resourceVersion read, again on a conflict). An `Api`'s own admission
//! chain and TTL leases are not used over a server: the server's apply.

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use serde_json::Value;

use super::MAX_RETRIES;
use super::{Api, DeleteOutcome, DeleteParams, ListParams, Preconditions, WatchEvent, WatchParams};
use crate::meta::ObjectList;
use crate::resource::{ApiResource, Object};
use crate::{Error, Result};

/// The object-level operations of an API server, on JSON objects: what an
/// [`Api`] sends when its store is a client of one. `namespace` is `None`
/// for a cluster-scoped kind or a list/watch across all namespaces.
///
/// Errors: the server's refusals as [`Error`]s — [`Error::NotFound`],
/// [`Error::AlreadyExists`], [`Error::Conflict`], [`Error::Invalid`],
/// [`Error::Gone`] (410), [`Error::Forbidden`] (401, 403),
/// [`Error::BadRequest`]; [`Error::Unavailable`] when the server cannot be
/// reached.
#[async_trait]
pub trait ObjectApi: Send + Sync {
    /// `GET …/{name}`.
    async fn get(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value>;
    /// `GET …` (one page, as `params` asks).
    async fn list(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<Value>>;
    /// `GET …?watch=true` from `resource_version`; the stream ends with
    /// [`Error::Gone`] when the server has compacted past it.
    async fn watch(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchEvent<Value>>>>;
    /// `POST …`.
    async fn create(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value>;
    /// `PUT …/{name}` (`status`: `PUT …/{name}/status`), with the object's
    /// `metadata.resourceVersion` as the precondition if it has one.
    async fn replace(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        object: Value,
        status: bool,
    ) -> Result<Value>;
    /// `PATCH …/{name}` with a JSON merge patch (`status`: the status).
    async fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value>;
    /// `DELETE …/{name}`.
    async fn delete(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<Value>>;
    /// `POST pods/{name}/binding`.
    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        preconditions: &Preconditions,
    ) -> Result<()>;
}

impl<K: Object> Api<K> {
    /// The API server this Api sends its calls to, if its store is a
    /// client of one.
    pub(super) fn remote(&self) -> Option<&dyn ObjectApi> {
        self.store.object_api()
    }

    /// The namespace of a call on one object (`None` for cluster-scoped
    /// kinds).
    fn object_namespace(&self, namespace: &str) -> Option<String> {
        self.resource.namespaced.then(|| namespace.to_owned())
    }

    pub(super) fn decode_value(&self, value: Value, name: &str) -> Result<K> {
        let object = self.object_name(self.request_namespace(), name);
        Self::from_value(value, &object)
    }

    pub(super) async fn remote_get(&self, remote: &dyn ObjectApi, name: &str) -> Result<K> {
        let ns = self.object_namespace(self.request_namespace());
        let value = remote.get(&self.resource, ns.as_deref(), name).await?;
        self.decode_value(value, name)
    }

    pub(super) async fn remote_list(
        &self,
        remote: &dyn ObjectApi,
        params: &ListParams,
    ) -> Result<ObjectList<K>> {
        let page = remote.list(&self.resource, self.namespace.as_deref(), params).await?;
        let items = page
            .items
            .into_iter()
            .map(|v| {
                let name = v["metadata"]["name"].as_str().unwrap_or("").to_owned();
                self.decode_value(v, &name)
            })
            .collect::<Result<Vec<K>>>()?;
        Ok(ObjectList {
            items,
            resource_version: page.resource_version,
            continue_token: page.continue_token,
        })
    }

    pub(super) async fn remote_watch(
        &self,
        remote: &dyn ObjectApi,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchEvent<K>>>> {
        let events = remote
            .watch(&self.resource, self.namespace.as_deref(), params, resource_version)
            .await?;
        let api = self.clone();
        let decode = move |v: Value| {
            let name = v["metadata"]["name"].as_str().unwrap_or("").to_owned();
            api.decode_value(v, &name)
        };
        Ok(events
            .map(move |event| {
                event.and_then(|e| match e {
                    WatchEvent::Added(v) => decode(v).map(WatchEvent::Added),
                    WatchEvent::Modified(v) => decode(v).map(WatchEvent::Modified),
                    WatchEvent::Deleted(v) => decode(v).map(WatchEvent::Deleted),
                    WatchEvent::Bookmark { resource_version } => {
                        Ok(WatchEvent::Bookmark { resource_version })
                    }
                })
            })
            .boxed())
    }

    pub(super) async fn remote_create(&self, remote: &dyn ObjectApi, obj: &K) -> Result<K> {
        let ns = self.namespace_of(&obj.meta().namespace)?;
        let object = self.object_name(&ns, &obj.meta().name);
        let value = Self::to_value(obj, &object)?;
        let ns = self.object_namespace(&ns);
        let created = remote.create(&self.resource, ns.as_deref(), value).await?;
        Self::from_value(created, &object)
    }

    pub(super) async fn remote_replace(
        &self,
        remote: &dyn ObjectApi,
        obj: &K,
        status: bool,
    ) -> Result<K> {
        let ns = self.namespace_of(&obj.meta().namespace)?;
        let name = obj.meta().name.clone();
        let object = self.object_name(&ns, &name);
        let value = Self::to_value(obj, &object)?;
        let ns = self.object_namespace(&ns);
        let replaced = remote.replace(&self.resource, ns.as_deref(), &name, value, status).await?;
        Self::from_value(replaced, &object)
    }

    pub(super) async fn remote_merge_patch(
        &self,
        remote: &dyn ObjectApi,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<K> {
        let ns = self.object_namespace(self.request_namespace());
        let patched =
            remote.merge_patch(&self.resource, ns.as_deref(), name, patch, status).await?;
        self.decode_value(patched, name)
    }

    /// [`Api::patch_with`] over a server: read, apply, write back with the
    /// resourceVersion read; again on a conflict unless the caller named
    /// the resourceVersion.
    pub(super) async fn remote_patch_with(
        &self,
        remote: &dyn ObjectApi,
        name: &str,
        resource_version: Option<&str>,
        status: bool,
        patch: impl Fn(&Value) -> Result<Value>,
    ) -> Result<K> {
        let ns = self.object_namespace(self.request_namespace());
        let mut last = None;
        for _ in 0..MAX_RETRIES {
            let current = remote.get(&self.resource, ns.as_deref(), name).await?;
            let read = current["metadata"]["resourceVersion"].as_str().unwrap_or("").to_owned();
            if let Some(want) = resource_version.filter(|rv| !rv.is_empty() && *rv != read) {
                return Err(Error::Conflict {
                    object: self.object_name(self.request_namespace(), name),
                    expected: want.to_owned(),
                    actual: read,
                });
            }
            let mut proposed = patch(&current)?;
            proposed["metadata"]["resourceVersion"] = Value::String(read);
            match remote.replace(&self.resource, ns.as_deref(), name, proposed, status).await {
                Ok(v) => return self.decode_value(v, name),
                Err(e @ Error::Conflict { .. }) if resource_version.is_none() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Unavailable("no attempt made".into())))
    }

    pub(super) async fn remote_delete(
        &self,
        remote: &dyn ObjectApi,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<K>> {
        let ns = self.object_namespace(self.request_namespace());
        match remote.delete(&self.resource, ns.as_deref(), name, params).await? {
            DeleteOutcome::Deleted(v) => self.decode_value(v, name).map(DeleteOutcome::Deleted),
            DeleteOutcome::Finalizing(v) => {
                self.decode_value(v, name).map(DeleteOutcome::Finalizing)
            }
        }
    }
}
