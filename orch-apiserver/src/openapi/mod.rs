//! OpenAPI v3, as kube-apiserver serves it: `GET /openapi/v3` lists one
//! document per group-version (`{"paths": {"apis/apps/v1":
//! {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=…"}}}`), and
//! `GET /openapi/v3/apis/apps/v1` is that document: the paths of its
//! resources with their operations and parameters, and the component
//! schemas of its kinds (generated from the Rust types, with Kubernetes'
//! patch extensions). Each document is built once, when the server starts;
//! its hash is its `ETag`, and a request whose `If-None-Match` names it
//! gets a 304, as kubectl's cache expects.
//!
//! kubectl reads these for `apply` and `create -f`: a PATCH operation with
//! a `fieldValidation` parameter tells it the server validates (so it sends
//! `fieldValidation=Strict` and validates nothing itself), and the
//! `x-kubernetes-patch-merge-key`/`-strategy` extensions let it compute
//! strategic merge patches with `$setElementOrder` directives.
//!
//! ```
//! use orch_apiserver::discovery::ResourceInfo;
//! use orch_apiserver::openapi::{KindSchema, OpenApi};
//! use orch_core::{Deployment, Resource};
//!
//! let info = ResourceInfo::builtin(&Deployment::api_resource());
//! let schema = KindSchema::of::<Deployment>(&info.resource);
//! let openapi = OpenApi::new(&[(info, Some(schema))]);
//! let doc: serde_json::Value = serde_json::from_slice(openapi.document("apis/apps/v1").unwrap()).unwrap();
//! let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
//! assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
//! ```

mod paths;
mod schemas;

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

pub use schemas::{component_name, KindSchema, REF_PREFIX};

use crate::discovery::ResourceInfo;
use crate::status::Status;

/// The OpenAPI v3 documents of a server's kinds.
#[derive(Clone, Debug)]
pub struct OpenApi {
    root: Document,
    /// By group-version path: `api/v1`, `apis/apps/v1`.
    documents: BTreeMap<String, Document>,
}

#[derive(Clone, Debug)]
struct Document {
    body: Bytes,
    /// Upper-case hex SHA-512 of `body`, as kube-apiserver hashes.
    hash: String,
}

impl Document {
    fn new(value: &Value) -> Self {
        let body = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        let hash = Sha512::digest(&body).iter().map(|b| format!("{b:02X}")).collect();
        Document { body, hash }
    }
}

impl OpenApi {
    /// The documents of `kinds`: each served resource with its kind's
    /// schema (`None`: an opaque object, and no strategic merge patch).
    pub fn new(kinds: &[(ResourceInfo, Option<KindSchema>)]) -> Self {
        // By group-version: its paths and its component schemas.
        type Parts = (Map<String, Value>, Map<String, Value>);
        let mut groups: BTreeMap<String, Parts> = BTreeMap::new();
        for (info, schema) in kinds {
            let r = &info.resource;
            let key = if r.group.is_empty() {
                format!("api/{}", r.version)
            } else {
                format!("apis/{}/{}", r.group, r.version)
            };
            let (paths, components) =
                groups.entry(key).or_insert_with(|| (Map::new(), schemas::common()));
            let strategic = schema.is_some();
            let schema = schema.clone().unwrap_or_else(|| KindSchema::opaque(r));
            for (path, item) in paths::resource_paths(info, &schema.name, strategic) {
                paths.insert(path, item);
            }
            components
                .insert(format!("{}List", schema.name), schemas::list_schema(r, &schema.name));
            components.extend(schema.components);
        }
        let documents: BTreeMap<String, Document> = groups
            .into_iter()
            .map(|(key, (paths, components))| {
                let doc = json!({
                    "openapi": "3.0.0",
                    "info": { "title": "Kubernetes", "version": crate::discovery::version()["gitVersion"] },
                    "paths": paths,
                    "components": { "schemas": components },
                });
                (key, Document::new(&doc))
            })
            .collect();
        let index: Map<String, Value> = documents
            .iter()
            .map(|(key, doc)| {
                let url = format!("/openapi/v3/{key}?hash={}", doc.hash);
                (key.clone(), json!({ "serverRelativeURL": url }))
            })
            .collect();
        OpenApi { root: Document::new(&json!({ "paths": index })), documents }
    }

    /// The JSON of the document at `path` (`apis/apps/v1`), if there is one.
    pub fn document(&self, path: &str) -> Option<&[u8]> {
        self.documents.get(path.trim_matches('/')).map(|d| d.body.as_ref())
    }

    /// The answer to `GET /openapi/v3` (`path` `None`) or
    /// `GET /openapi/v3/<path>`: the document with its `ETag`, or a 304 when
    /// `If-None-Match` names it.
    ///
    /// Errors: a 404 Status for a group-version the server does not serve.
    pub fn respond(&self, path: Option<&str>, headers: &HeaderMap) -> Result<Response, Status> {
        let (doc, cache) = match path {
            None => (&self.root, "no-cache, private"),
            Some(p) => (
                self.documents.get(p.trim_matches('/')).ok_or_else(Status::path_not_found)?,
                "public, immutable",
            ),
        };
        let etag = format!("\"{}\"", doc.hash);
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let headers = [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache.to_owned()),
        ];
        if fresh {
            return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
        }
        Ok((StatusCode::OK, headers, doc.body.clone()).into_response())
    }
}

#[cfg(test)]
mod tests;
