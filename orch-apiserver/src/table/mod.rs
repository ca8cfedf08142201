//! Server-side `Table` output (`meta.k8s.io/v1`): the columns `kubectl get`
//! prints, computed here as kube-apiserver computes them.
//!
//! kubectl asks for a Table on every human-readable `get` (list, single get
//! and watch) with the Accept header
//! `application/json;as=Table;v=v1;g=meta.k8s.io,…`; it prints the cells as
//! given and the `priority: 1` columns only with `-o wide`. A server that
//! ignores `as=Table` gets `NAME AGE` and nothing else, so the columns below
//! follow kube-apiserver's printers (`pkg/printers/internalversion`) for the
//! kinds orch serves, and apiextensions' default (`Name`, `Age`) for the rest.
//!
//! ```
//! use orch_apiserver::table::{table, wants_table, IncludeObject};
//! use orch_core::{ApiResource, Resource};
//! use serde_json::json;
//!
//! let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
//! assert!(wants_table(accept));
//! let now = chrono::DateTime::parse_from_rfc3339("2024-05-01T12:10:00Z").unwrap().to_utc();
//! let cm = json!({"metadata": {"name": "settings", "creationTimestamp": "2024-05-01T12:00:00Z"},
//!                 "data": {"a": "1", "b": "2"}});
//! let t = table(&orch_core::ConfigMap::api_resource(), &[cm], "42", None, IncludeObject::None, now);
//! assert_eq!(t["rows"][0]["cells"], json!(["settings", 2, "10m"]));
//! assert_eq!(t["metadata"]["resourceVersion"], "42");
//! ```
//!
//! Objects are read as [`serde_json::Value`]: they come from the store or the
//! network, so a missing or mistyped field gives an empty cell (or `<none>`,
//! `<unknown>`, as kube-apiserver would print), never a panic.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

mod accept;
mod duration;
mod kinds;
mod pods;
mod workloads;

pub use accept::wants_table;
pub use duration::human_duration;

/// Which objects a row carries (`includeObject`): `None`, `Metadata` (default: a PartialObjectMetadata), `Object`.
///
/// kubectl sends `includeObject=Object` only with `--sort-by`; otherwise
/// the default applies, and kubectl reads the row's metadata for
/// `--show-labels` and `-L`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No `object` in the rows.
    None,
    /// `object` is a `meta.k8s.io/v1` `PartialObjectMetadata` holding the
    /// object's `metadata`.
    #[default]
    Metadata,
    /// `object` is the whole object.
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter: `None`, `Metadata` or
    /// `Object` (case-sensitive, as kube-apiserver); absent or empty gives
    /// the default, [`IncludeObject::Metadata`]. The error is the message of
    /// a 400 (`BadRequest`) Status.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("") | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(format!(
                "includeObject: Unsupported value: {other:?}: supported values: \"Metadata\", \"None\", \"Object\""
            )),
        }
    }
}

/// A `Table` (serde_json::Value with kind Table, apiVersion meta.k8s.io/v1, metadata.resourceVersion (and continue if given),
/// columnDefinitions, rows[{cells, object}]) for `objects` (each the JSON of an object of `resource`), computed at `now`.
///
/// * `columnDefinitions`: `{name, type, format, description, priority}`
///   as kube-apiserver sends them for this kind; `priority: 1` marks the
///   `-o wide` columns. The cells always include the wide columns (the
///   apiserver prints wide and lets kubectl hide them).
/// * `rows[].cells`: strings, and integers where kube-apiserver sends
///   integers (e.g. a ReplicaSet's `DESIRED`, a ConfigMap's `DATA`); ages are
///   [`human_duration`]s of `now - creationTimestamp`.
/// * `rows[].conditions`: `Completed` for Succeeded/Failed pods, as
///   kube-apiserver marks them.
/// * `rows[].object`: per `include`; a whole object lacking `kind` or
///   `apiVersion` gets those of `resource`.
///
/// Kinds with printers here: core `pods`, `nodes`, `events`, `namespaces`,
/// `configmaps`, `secrets`; `apps` `deployments`, `replicasets`;
/// `coordination.k8s.io` `leases`. Any other resource gets `Name` and `Age`
/// (`type: date`), as apiextensions-apiserver serves a custom resource
/// without `additionalPrinterColumns`.
pub fn table(
    resource: &orch_core::ApiResource,
    objects: &[Value],
    resource_version: &str,
    continue_token: Option<&str>,
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let printer = kinds::printer(resource);
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), resource_version.into());
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata.insert("continue".into(), token.into());
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array((printer.cells)(object, now)));
            if let Some(conditions) = (printer.conditions)(object) {
                row.insert("conditions".into(), conditions);
            }
            if let Some(o) = row_object(resource, object, include) {
                row.insert("object".into(), o);
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": printer.columns.iter().map(Column::to_json).collect::<Vec<_>>(),
        "rows": rows,
    })
}

fn row_object(
    resource: &orch_core::ApiResource,
    object: &Value,
    include: IncludeObject,
) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
        IncludeObject::Object => {
            let mut whole = object.clone();
            if let Value::Object(map) = &mut whole {
                if text(object, "/kind").is_empty() {
                    map.insert("kind".into(), resource.kind.clone().into());
                }
                if text(object, "/apiVersion").is_empty() {
                    map.insert("apiVersion".into(), resource.api_version.clone().into());
                }
            }
            Some(whole)
        }
    }
}

/// One `TableColumnDefinition`.
pub(crate) struct Column {
    pub(crate) name: &'static str,
    pub(crate) type_: &'static str,
    pub(crate) format: &'static str,
    pub(crate) description: &'static str,
    pub(crate) priority: u8,
}

impl Column {
    /// A `string` column shown without `-o wide`.
    pub(crate) const fn string(name: &'static str, description: &'static str) -> Self {
        Column { name, type_: "string", format: "", description, priority: 0 }
    }

    /// A column of another type.
    pub(crate) const fn typed(
        name: &'static str,
        type_: &'static str,
        description: &'static str,
    ) -> Self {
        Column { name, type_, format: "", description, priority: 0 }
    }

    /// The `Name` column (`format: name`).
    pub(crate) const fn name() -> Self {
        Column { format: "name", ..Column::string("Name", NAME_DOC) }
    }

    /// The `Age` column.
    pub(crate) const fn age() -> Self {
        Column::string("Age", CREATION_TIMESTAMP_DOC)
    }

    /// The same column, shown only with `-o wide`.
    pub(crate) const fn wide(self) -> Self {
        Column { priority: 1, ..self }
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// `ObjectMeta.name`'s description, as Kubernetes' swagger docs give it.
pub(crate) const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// `ObjectMeta.creationTimestamp`'s description.
pub(crate) const CREATION_TIMESTAMP_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The string at a JSON pointer (`/status/phase`), `""` when missing or not
/// a string.
pub(crate) fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, `None` when missing or not an integer.
pub(crate) fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// The array at a JSON pointer, empty when missing or not an array.
pub(crate) fn list<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The number of entries of the map at a JSON pointer (0 when missing).
pub(crate) fn map_len(v: &Value, pointer: &str) -> usize {
    v.pointer(pointer).and_then(Value::as_object).map_or(0, Map::len)
}

/// True if the JSON pointer leads to an object (a Go non-nil pointer field).
pub(crate) fn present(v: &Value, pointer: &str) -> bool {
    v.pointer(pointer).is_some_and(Value::is_object)
}

/// The RFC 3339 time at a JSON pointer; `None` when missing, unparsable, or
/// Go's zero time (`0001-01-01T00:00:00Z`, which Go's `IsZero` treats as unset).
pub(crate) fn time(v: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(text(v, pointer)).ok()?.to_utc();
    (t.timestamp() != GO_ZERO_TIME_UNIX).then_some(t)
}

const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// kube-apiserver's `translateTimestampSince`: the [`human_duration`] from
/// `t` to `now`, `<unknown>` when there is no time.
pub(crate) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now - t))
}

/// The NAME cell: `metadata.name`.
pub(crate) fn name(object: &Value) -> Value {
    text(object, "/metadata/name").into()
}

/// The AGE cell: [`since`] the object's `metadata.creationTimestamp`.
pub(crate) fn age(object: &Value, now: DateTime<Utc>) -> Value {
    since(time(object, "/metadata/creationTimestamp"), now).into()
}

/// `s`, or `replacement` when `s` is empty.
pub(crate) fn or<'a>(s: &'a str, replacement: &'a str) -> &'a str {
    if s.is_empty() {
        replacement
    } else {
        s
    }
}

/// What the printers' tests share: a fixed "now" and a metadata block.
#[cfg(test)]
mod fixtures {
    use chrono::{DateTime, Utc};
    use serde_json::{json, Value};

    /// 2024-05-01T12:00:00Z.
    pub(super) fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").map(|t| t.to_utc()).unwrap_or_default()
    }

    /// `name`, created 2024-04-29T09:00:00Z.
    pub(super) fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": "2024-04-29T09:00:00Z"})
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::now;
    use super::*;
    use orch_core::Resource;

    fn cm() -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "a", "namespace": "default", "labels": {"app": "web"},
                            "creationTimestamp": "2024-05-01T11:59:55Z"},
               "data": {"k": "v"}, "binaryData": {"b": "AA=="}})
    }

    #[test]
    fn include_object_from_query() {
        for (query, want) in [
            (None, Ok(IncludeObject::Metadata)),
            (Some(""), Ok(IncludeObject::Metadata)),
            (Some("Metadata"), Ok(IncludeObject::Metadata)),
            (Some("None"), Ok(IncludeObject::None)),
            (Some("Object"), Ok(IncludeObject::Object)),
        ] {
            assert_eq!(IncludeObject::from_query(query), want, "{query:?}");
        }
        for bad in ["object", "All", "none"] {
            let e = IncludeObject::from_query(Some(bad)).err().unwrap_or_default();
            assert!(e.contains(bad) && e.contains("\"Object\""), "{e}");
        }
    }

    #[test]
    fn table_shape_and_include_object_variants() {
        let r = orch_core::ConfigMap::api_resource();
        let t = table(&r, &[cm()], "17", Some("next"), IncludeObject::Metadata, now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "17", "continue": "next"}));
        let names: Vec<&str> =
            list(&t, "/columnDefinitions").iter().map(|c| text(c, "/name")).collect();
        assert_eq!(names, ["Name", "Data", "Age"]);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["columnDefinitions"][0]["priority"], 0);
        assert_eq!(t["rows"][0]["cells"], json!(["a", 2, "5s"]));
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": cm()["metadata"]})
        );

        let t = table(&r, &[cm()], "17", None, IncludeObject::Object, now());
        assert_eq!(t["metadata"], json!({"resourceVersion": "17"}));
        assert_eq!(t["rows"][0]["object"], cm());

        let t = table(&r, &[cm()], "17", Some(""), IncludeObject::None, now());
        assert_eq!(t["metadata"], json!({"resourceVersion": "17"}));
        assert!(t["rows"][0].get("object").is_none());
        assert!(t["rows"][0].get("conditions").is_none());

        let bare = json!({"metadata": {"name": "b"}});
        let t = table(&r, &[bare], "1", None, IncludeObject::Object, now());
        assert_eq!(t["rows"][0]["object"]["kind"], "ConfigMap");
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "v1");
        assert_eq!(t["rows"][0]["cells"], json!(["b", 0, "<unknown>"]));
        let empty = table(&r, &[], "1", None, IncludeObject::Metadata, now());
        assert_eq!(empty["rows"], json!([]));
    }

    #[test]
    fn garbage_objects_do_not_panic() {
        let resources = [
            orch_core::Pod::api_resource(),
            orch_core::Node::api_resource(),
            orch_core::Deployment::api_resource(),
            orch_core::ReplicaSet::api_resource(),
            orch_core::Event::api_resource(),
            orch_core::Namespace::api_resource(),
            orch_core::ConfigMap::api_resource(),
            orch_core::Secret::api_resource(),
            orch_core::Lease::api_resource(),
            orch_core::ApiResource::new("x.io", "v1", "Thing", "things", true, false),
        ];
        let junk = [
            json!(null),
            json!(7),
            json!({"metadata": "x", "spec": [], "status": {"containerStatuses": [1, null, {}]}}),
            json!({"metadata": {"creationTimestamp": "not a time", "labels": 3},
                   "spec": {"selector": {"matchExpressions": [{"key": 1}]}, "replicas": "3"},
                   "status": {"conditions": {}, "initContainerStatuses": [{"state": {"terminated": 5}}]}}),
        ];
        for r in &resources {
            let t = table(r, &junk, "1", None, IncludeObject::Object, now());
            let width = list(&t, "/columnDefinitions").len();
            for row in list(&t, "/rows") {
                assert_eq!(list(row, "/cells").len(), width, "{}", r.plural);
            }
        }
    }

    #[test]
    fn default_table_for_other_kinds() {
        let r = orch_core::ApiResource::new(
            "games.example.com",
            "v1",
            "GameServer",
            "gameservers",
            true,
            false,
        );
        let gs = json!({"metadata": {"name": "g", "creationTimestamp": "2024-04-30T12:00:00Z"}});
        let t = table(
            &r,
            &[gs, json!({"metadata": {"name": "h"}})],
            "3",
            None,
            IncludeObject::None,
            now(),
        );
        assert_eq!(t["columnDefinitions"][1]["name"], "Age");
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(t["rows"][0]["cells"], json!(["g", "24h"]));
        assert_eq!(t["rows"][1]["cells"], json!(["h", null]));
    }
}
