//! Manifests: multi-document YAML (or JSON) into objects.
//!
//! Each document's `apiVersion` and `kind` are looked up in a [`Registry`]
//! (the built-in kinds, plus any an embedder registers); the document is
//! checked against that kind's Rust type, so a wrong type anywhere is an
//! error naming the document and the field path. A document of kind `List`
//! contributes its `items`. Empty documents are skipped. Loading is all or
//! nothing: one bad document fails the whole stream.
//!
//! ```
//! use orch_core::manifest::{self, Registry};
//! use orch_core::Error;
//!
//! let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: three}\n";
//! match manifest::parse(bad, &Registry::builtin()) {
//!     Err(Error::Manifest { document, path, .. }) => {
//!         assert_eq!(document, 1);
//!         assert_eq!(path, "spec.replicas");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use serde::Deserialize;
use serde_json::Value;

use crate::dynamic::DynamicObject;
use crate::kinds::{
    ConfigMap, Deployment, Event, Job, Lease, Namespace, Node, Pod, ReplicaSet, Secret,
};
use crate::resource::{ApiResource, Resource};
use crate::store::Store;
use crate::{Api, Error, Result};

type Check = fn(Value, &mut Vec<String>) -> std::result::Result<(), (String, String)>;
type Create = fn(Arc<dyn Store>, ManifestObject) -> BoxFuture<'static, Result<DynamicObject>>;
type Validate = fn(&ManifestObject) -> Result<()>;

fn validate_as<K: Resource>(obj: &ManifestObject) -> Result<()> {
    let mut typed: K = obj.parse()?;
    let meta = typed.meta_mut();
    if K::NAMESPACED && meta.namespace.is_empty() {
        meta.namespace = "default".into();
    }
    if !K::NAMESPACED {
        meta.namespace.clear();
    }
    let object = K::api_resource().object_name(&typed.meta().namespace, &typed.meta().name);
    let mut errors = crate::validation::FieldErrors::default();
    if typed.meta().name.is_empty() && !typed.meta().generate_name.is_empty() {
        let mut named = typed.meta().clone();
        named.name = format!("{}x", named.generate_name);
        crate::validation::object_meta(&named, K::GROUP, K::NAMESPACED, &mut errors);
    } else {
        crate::validation::object_meta(typed.meta(), K::GROUP, K::NAMESPACED, &mut errors);
    }
    typed.validate(&mut errors);
    errors.into_result(&object).map_err(|e| match e {
        Error::Invalid { field, reason, .. } => obj.error(&field, reason),
        other => other,
    })
}

fn create_as<K: Resource>(
    store: Arc<dyn Store>,
    obj: ManifestObject,
) -> BoxFuture<'static, Result<DynamicObject>> {
    Box::pin(async move {
        let typed: K = obj.parse()?;
        let created = Api::<K>::all(store).create(&typed).await?;
        let value = serde_json::to_value(&created).map_err(|e| obj.error(".", e.to_string()))?;
        serde_json::from_value(value).map_err(|e| obj.error(".", e.to_string()))
    })
}

/// The paths of the fields in `value` that `K` does not model (say
/// `spec.template.spec.securityContext`): what decoding it drops, as
/// [`ManifestObject::unknown_fields`] reports them. A value that does not
/// decode as `K` at all gives the fields seen before the error.
pub fn unknown_fields<K: Resource>(value: Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let _ = check_as::<K>(value, &mut unknown);
    unknown
}

fn check_as<K: Resource>(
    value: Value,
    unknown: &mut Vec<String>,
) -> std::result::Result<(), (String, String)> {
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(value, &mut record);
    serde_path_to_error::deserialize::<_, K>(de)
        .map(|_| ())
        .map_err(|e| (e.path().to_string(), e.inner().to_string()))
}

#[derive(Clone)]
struct Entry {
    resource: ApiResource,
    check: Check,
    create: Create,
    validate: Validate,
}

/// The kinds a manifest may contain, by `apiVersion` and `kind`.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<(String, String), Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys().map(|(v, k)| format!("{v}/{k}"))).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in kinds: Namespace, Node, Pod, ReplicaSet, Deployment,
    /// ConfigMap, Secret, Lease, Event.
    pub fn builtin() -> Self {
        let mut r = Self::new();
        r.register::<Namespace>()
            .register::<Node>()
            .register::<Pod>()
            .register::<ReplicaSet>()
            .register::<Job>()
            .register::<Deployment>()
            .register::<ConfigMap>()
            .register::<Secret>()
            .register::<Lease>()
            .register::<Event>();
        r
    }

    /// Adds a kind (a built-in or an embedder's own).
    pub fn register<K: Resource>(&mut self) -> &mut Self {
        let resource = K::api_resource();
        self.kinds.insert(
            (resource.api_version.clone(), resource.kind.clone()),
            Entry {
                resource,
                check: check_as::<K>,
                create: create_as::<K>,
                validate: validate_as::<K>,
            },
        );
        self
    }

    /// Creates a manifest object through the typed `Api` of its kind, so
    /// that the kind's own validation runs; returns what was stored.
    ///
    /// Errors: those of [`Api::create`]; [`Error::Manifest`] if the kind is
    /// not registered here.
    pub async fn create(
        &self,
        store: Arc<dyn Store>,
        obj: &ManifestObject,
    ) -> Result<DynamicObject> {
        let entry = self
            .kinds
            .get(&(obj.resource.api_version.clone(), obj.resource.kind.clone()))
            .ok_or_else(|| obj.error("kind", "is not registered".into()))?;
        (entry.create)(store, obj.clone()).await
    }

    /// Checks a manifest object as its kind's `Api` would on create (names,
    /// labels, the kind's own rules) without storing anything: how a loader
    /// makes sure a whole file is valid before applying any of it.
    ///
    /// Errors: [`Error::Manifest`] naming the document and field.
    pub fn validate(&self, obj: &ManifestObject) -> Result<()> {
        let entry = self
            .kinds
            .get(&(obj.resource.api_version.clone(), obj.resource.kind.clone()))
            .ok_or_else(|| obj.error("kind", "is not registered".into()))?;
        (entry.validate)(obj)
    }

    /// The kind registered for `apiVersion` and `kind`.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<&ApiResource> {
        self.kinds.get(&(api_version.to_owned(), kind.to_owned())).map(|e| &e.resource)
    }
}

/// One object read from a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestObject {
    /// Zero-based index of the document it came from.
    pub document: usize,
    /// Its kind.
    pub resource: ApiResource,
    /// The object.
    pub object: DynamicObject,
    /// Paths of fields its kind does not model (ignored on write), e.g.
    /// `spec.template.spec.securityContext`.
    pub unknown_fields: Vec<String>,
}

impl ManifestObject {
    /// The object as its Rust type.
    ///
    /// Errors: [`Error::Manifest`] naming the field if it does not fit `K`
    /// (for instance when `K` is another kind).
    pub fn parse<K: Resource>(&self) -> Result<K> {
        let r = K::api_resource();
        if r.api_version != self.resource.api_version || r.kind != self.resource.kind {
            return Err(self.error(
                "kind",
                format!(
                    "is {} {}, not {} {}",
                    self.resource.api_version, self.resource.kind, r.api_version, r.kind
                ),
            ));
        }
        self.object.try_parse().map_err(|e| match e {
            Error::Invalid { field, reason, .. } => self.error(&field, reason),
            other => other,
        })
    }

    fn error(&self, path: &str, message: String) -> Error {
        Error::Manifest {
            document: self.document,
            kind: Some(self.resource.kind.clone()),
            name: Some(self.object.metadata.name.clone()).filter(|n| !n.is_empty()),
            path: path.to_owned(),
            message,
        }
    }
}

/// Reads every document of a YAML (or JSON) stream.
///
/// Errors: [`Error::Manifest`] for the first bad document, with its index,
/// its kind and name when known, and the field path: YAML syntax errors
/// (with line and column), documents that are not mappings, missing or
/// unknown `apiVersion`/`kind`, fields of the wrong type.
pub fn parse(text: &str, registry: &Registry) -> Result<Vec<ManifestObject>> {
    let mut out = Vec::new();
    for (document, de) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de).map_err(|e| Error::Manifest {
            document,
            kind: None,
            name: None,
            path: ".".into(),
            message: format!("not valid YAML: {e}"),
        })?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            let items = match value.get("items") {
                Some(Value::Array(items)) => items.clone(),
                None => Vec::new(),
                Some(_) => {
                    return Err(Error::Manifest {
                        document,
                        kind: Some("List".into()),
                        name: None,
                        path: "items".into(),
                        message: "must be a list".into(),
                    })
                }
            };
            for (i, item) in items.into_iter().enumerate() {
                out.push(
                    decode(document, item, registry)
                        .map_err(|e| prefix_path(e, &format!("items[{i}]")))?,
                );
            }
            continue;
        }
        out.push(decode(document, value, registry)?);
    }
    Ok(out)
}

fn prefix_path(e: Error, prefix: &str) -> Error {
    match e {
        Error::Manifest { document, kind, name, path, message } => Error::Manifest {
            document,
            kind,
            name,
            path: if path == "." { prefix.to_owned() } else { format!("{prefix}.{path}") },
            message,
        },
        other => other,
    }
}

fn decode(document: usize, value: Value, registry: &Registry) -> Result<ManifestObject> {
    let name = value.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned);
    let err = |kind: Option<&str>, path: &str, message: String| Error::Manifest {
        document,
        kind: kind.map(str::to_owned),
        name: name.clone(),
        path: path.to_owned(),
        message,
    };
    if !value.is_object() {
        return Err(err(
            None,
            ".",
            "document must be a mapping with apiVersion, kind and metadata".into(),
        ));
    }
    let field = |f: &str| -> Result<String> {
        match value.get(f) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None => Err(err(None, f, "is required".into())),
            Some(other) => Err(err(None, f, format!("must be a string, not {other}"))),
        }
    };
    let api_version = field("apiVersion")?;
    let kind = field("kind")?;
    let entry = registry.kinds.get(&(api_version.clone(), kind.clone())).ok_or_else(|| {
        let known: Vec<String> = registry.kinds.keys().map(|(v, k)| format!("{v} {k}")).collect();
        err(
            Some(&kind),
            "kind",
            format!(
                "no kind {kind:?} is registered for apiVersion {api_version:?} (known: {})",
                known.join(", ")
            ),
        )
    })?;
    let mut unknown_fields = Vec::new();
    (entry.check)(value.clone(), &mut unknown_fields)
        .map_err(|(path, message)| err(Some(&kind), &path, message))?;
    let object: DynamicObject =
        serde_json::from_value(value).map_err(|e| err(Some(&kind), ".", e.to_string()))?;
    Ok(ManifestObject { document, resource: entry.resource.clone(), object, unknown_fields })
}
