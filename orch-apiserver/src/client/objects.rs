//! [`ObjectApi`] over HTTP: each call as the Kubernetes REST request
//! client-go sends for it.

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use hyper::{Method, StatusCode};
use orch_core::api::{
    DeleteOutcome, DeleteParams, ListParams, ObjectApi, Preconditions, PropagationPolicy,
    WatchEvent, WatchParams,
};
use orch_core::meta::ObjectList;
use orch_core::{ApiResource, Error, Result};
use serde_json::{json, Value};

use super::Client;

const JSON: &str = "application/json";

/// `/api/v1[/namespaces/{ns}]/{plural}` or the `/apis/{group}/{version}` form.
fn collection(r: &ApiResource, namespace: Option<&str>) -> String {
    let root = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    match namespace.filter(|_| r.namespaced) {
        Some(ns) => format!("{root}/namespaces/{ns}/{}", r.plural),
        None => format!("{root}/{}", r.plural),
    }
}

fn object_path(r: &ApiResource, namespace: Option<&str>, name: &str, status: bool) -> String {
    let sub = if status { "/status" } else { "" };
    format!("{}/{name}{sub}", collection(r, namespace))
}

fn described(r: &ApiResource, namespace: Option<&str>, name: &str) -> String {
    match namespace.filter(|_| r.namespaced) {
        Some(ns) => format!("{}/{ns}/{name}", r.plural),
        None => format!("{}/{name}", r.plural),
    }
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

#[async_trait]
impl ObjectApi for Client {
    async fn get(&self, r: &ApiResource, namespace: Option<&str>, name: &str) -> Result<Value> {
        let path = object_path(r, namespace, name, false);
        let (_, v) =
            self.inner.json(Method::GET, &path, None, &described(r, namespace, name)).await?;
        Ok(v)
    }

    async fn list(
        &self,
        r: &ApiResource,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<Value>> {
        let q = query(&[
            ("labelSelector", params.label_selector.clone()),
            ("fieldSelector", params.field_selector.clone()),
            ("limit", params.limit.map(|l| l.to_string())),
            ("continue", params.continue_token.clone()),
        ]);
        let path = format!("{}{q}", collection(r, namespace));
        let (_, mut v) = self.inner.json(Method::GET, &path, None, &r.plural).await?;
        let items = match v["items"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(ObjectList {
            items,
            resource_version: text(&v["metadata"]["resourceVersion"]).unwrap_or_default(),
            continue_token: text(&v["metadata"]["continue"]),
        })
    }

    async fn watch(
        &self,
        r: &ApiResource,
        namespace: Option<&str>,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchEvent<Value>>>> {
        let q = query(&[
            ("watch", Some("true".into())),
            ("resourceVersion", Some(resource_version.to_owned())),
            ("allowWatchBookmarks", params.bookmarks.then(|| "true".to_owned())),
            ("labelSelector", params.label_selector.clone()),
            ("fieldSelector", params.field_selector.clone()),
        ]);
        let path = format!("{}{q}", collection(r, namespace));
        let lines = self.inner.lines(&path, &r.plural).await?;
        let plural = r.plural.clone();
        let start = resource_version.to_owned();
        let events = lines.map(move |line| {
            let mut line = line?;
            let object = line["object"].take();
            match line["type"].as_str().unwrap_or("") {
                "ADDED" => Ok(WatchEvent::Added(object)),
                "MODIFIED" => Ok(WatchEvent::Modified(object)),
                "DELETED" => Ok(WatchEvent::Deleted(object)),
                "BOOKMARK" => Ok(WatchEvent::Bookmark {
                    resource_version: object["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                }),
                _ if object["code"] == 410 => Err(Error::Gone {
                    resource: plural.clone(),
                    resource_version: start.clone(),
                    compact_revision: 0,
                }),
                other => Err(Error::Unavailable(format!(
                    "watch of {plural}: {other} event: {}",
                    object["message"].as_str().unwrap_or("")
                ))),
            }
        });
        Ok(events.boxed())
    }

    async fn create(
        &self,
        r: &ApiResource,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value> {
        let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let path = collection(r, namespace);
        let what = described(r, namespace, &name);
        let (_, v) = self.inner.json(Method::POST, &path, Some((JSON, &object)), &what).await?;
        Ok(v)
    }

    async fn replace(
        &self,
        r: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        object: Value,
        status: bool,
    ) -> Result<Value> {
        let path = object_path(r, namespace, name, status);
        let what = described(r, namespace, name);
        let (_, v) = self.inner.json(Method::PUT, &path, Some((JSON, &object)), &what).await?;
        Ok(v)
    }

    async fn merge_patch(
        &self,
        r: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value> {
        let path = object_path(r, namespace, name, status);
        let what = described(r, namespace, name);
        let body = Some(("application/merge-patch+json", patch));
        let (_, v) = self.inner.json(Method::PATCH, &path, body, &what).await?;
        Ok(v)
    }

    async fn delete(
        &self,
        r: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<Value>> {
        let mut options = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
        if let Some(policy) = &params.propagation_policy {
            options["propagationPolicy"] = json!(match policy {
                PropagationPolicy::Foreground => "Foreground",
                PropagationPolicy::Background => "Background",
                PropagationPolicy::Orphan => "Orphan",
            });
        }
        if let Some(grace) = params.grace_period_seconds {
            options["gracePeriodSeconds"] = json!(grace);
        }
        if let Some(pre) = &params.preconditions {
            let mut p = serde_json::Map::new();
            if let Some(uid) = &pre.uid {
                p.insert("uid".into(), json!(uid));
            }
            if let Some(rv) = &pre.resource_version {
                p.insert("resourceVersion".into(), json!(rv));
            }
            options["preconditions"] = Value::Object(p);
        }
        let path = object_path(r, namespace, name, false);
        let what = described(r, namespace, name);
        let (code, v) =
            self.inner.json(Method::DELETE, &path, Some((JSON, &options)), &what).await?;
        Ok(if code == StatusCode::ACCEPTED {
            DeleteOutcome::Finalizing(v)
        } else {
            DeleteOutcome::Deleted(v)
        })
    }

    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        preconditions: &Preconditions,
    ) -> Result<()> {
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace,
                         "uid": preconditions.uid, "resourceVersion": preconditions.resource_version},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/binding");
        let what = format!("pods/{namespace}/{name}");
        self.inner.json(Method::POST, &path, Some((JSON, &binding)), &what).await?;
        Ok(())
    }
}
