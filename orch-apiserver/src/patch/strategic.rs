//! Server side of Kubernetes' strategic merge patch
//! (`Content-Type: application/strategic-merge-patch+json`, what `kubectl apply` and
//! `kubectl patch` send), driven by patch metadata read from OpenAPI v3 component schemas.
//!
//! The reference is the `strategicpatch` package of `k8s.io/apimachinery`
//! (`StrategicMergeMapPatch`); this module follows its server-side behaviour:
//!
//! - **Maps** merge recursively. A `null` patch value deletes the key, absent keys are kept,
//!   scalars and type changes replace. `"$patch": "replace"` makes the map the patch map,
//!   `"$patch": "delete"` removes the map from its parent (an empty object at the root),
//!   `"$patch": "merge"` is the default (Kubernetes leaves `{}` for `delete` and rejects
//!   `merge`). `"$retainKeys": [..]` removes, after merging, every key not listed; a field the
//!   patch sets that is not listed is an error.
//! - **Lists** follow the field's `x-kubernetes-patch-strategy`. Without `merge` (no strategy,
//!   `replace`, no schema) the patch list replaces the original. With `merge` and an
//!   `x-kubernetes-patch-merge-key`, patch elements merge into the original element with the
//!   same key value or are added; `{"$patch": "delete", key: v}` removes that element and an
//!   element `{"$patch": "replace"}` makes the list the other patch elements. With `merge` and
//!   no key (lists of primitives) the lists are united without duplicates, and the sibling key
//!   `"$deleteFromPrimitiveList/<field>": [..]` removes values.
//! - **Order** of merged lists is Kubernetes' `normalizeElementOrder`: patch elements keep the
//!   patch's order, elements only on the server keep their relative order and are interleaved
//!   by their server positions. So an element added by a bare patch is placed first when the
//!   patch starts with it, as Kubernetes does; `kubectl apply` always sends
//!   `"$setElementOrder/<field>": [..]`, which then fixes the order of the elements it names.
//! - Every `$` key is a directive: none appears in the result, also inside values that are
//!   added or that replace. Fields without schema behave as JSON merge patch (RFC 7386).
//!
//! Patch metadata is read from the *property* schema of a field (where Kubernetes' OpenAPI and
//! `#[schemars(extend(..))]` put it), looking through `$ref`, `allOf`, `anyOf` and `oneOf`;
//! a list's element schema is its `items`, a map's value schema its `additionalProperties`.
//! Anything unrecognised means "no metadata"; `$ref` chains are followed to a bounded depth.

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value};

type Object = Map<String, Value>;
/// Result of the internal steps.
type Patched<T> = Result<T, PatchError>;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const STRATEGY_EXTENSION: &str = "x-kubernetes-patch-strategy";
const MERGE_KEY_EXTENSION: &str = "x-kubernetes-patch-merge-key";
const COMPONENT_REF_PREFIX: &str = "#/components/schemas/";
/// How many `$ref`/`allOf`/`anyOf`/`oneOf` levels are followed below one schema node.
const MAX_SCHEMA_DEPTH: usize = 16;
/// How many schema objects are consulted for one node (bounds `allOf` fan-out).
const MAX_SCHEMA_PARTS: usize = 64;

/// A schema node and the component schemas its `$ref`s point into
/// (`#/components/schemas/<name>`), as an OpenAPI v3 document has them.
#[derive(Clone, Copy)]
pub struct SchemaRef<'a> {
    /// The node; `None` = unknown: no patch metadata below.
    pub schema: Option<&'a Value>,
    /// The document's `components.schemas`.
    pub components: &'a Map<String, Value>,
}

/// Why a patch could not be applied: the JSON path of the offending element
/// (`spec.template.spec.containers[1]`, empty for the patch itself) and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchError {
    /// Dotted path with `[index]` for list elements (indices are into the patch's lists).
    pub path: String,
    /// What is wrong, e.g. `does not contain declared merge key: name`.
    pub message: String,
}

impl fmt::Display for PatchError {
    /// `<path>: <message>`, or the message alone when the path is empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for PatchError {}

/// Applies a strategic merge patch to `original`, returning the patched object;
/// `original` is not modified (a non-object `original` counts as `{}`).
///
/// `schema` is the schema of the whole object (e.g. `{"$ref": "#/components/schemas/Pod"}`).
///
/// # Errors
///
/// A [`PatchError`] if `patch` is not a JSON object, or holds a malformed directive (`$patch`
/// with an unknown value, `$retainKeys` that is not a list of strings or omits a patched field,
/// `$setElementOrder/..` or `$deleteFromPrimitiveList/..` that is not a list, a patch list whose
/// order contradicts its `$setElementOrder`), or an element of a merge-keyed list that is not an
/// object or lacks the merge key, or an object in a merged list that has no merge key.
pub fn apply(original: &Value, patch: &Value, schema: SchemaRef<'_>) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(Path::Root.error("patch must be a JSON object"));
    };
    let original = original.as_object().cloned();
    Ok(Value::Object(merge_map(original, patch, schema, &Path::Root)?.unwrap_or_default()))
}

/// Patch metadata of one field.
pub(crate) struct Meta<'a> {
    /// The strategy includes `merge`.
    pub(crate) merge: bool,
    replace: bool,
    /// `x-kubernetes-patch-merge-key`.
    pub(crate) merge_key: Option<&'a str>,
}

impl<'a> SchemaRef<'a> {
    fn with(self, schema: Option<&'a Value>) -> Self {
        SchemaRef { schema, ..self }
    }

    /// The schema objects that describe this node: itself, what its `$ref` points to and the
    /// members of its `allOf`/`anyOf`/`oneOf`, recursively and boundedly.
    fn parts(self) -> Vec<&'a Object> {
        let mut out = Vec::new();
        if let Some(node) = self.schema {
            self.collect(node, 0, &mut out);
        }
        out
    }

    fn collect(self, node: &'a Value, depth: usize, out: &mut Vec<&'a Object>) {
        let Value::Object(node) = node else { return };
        if depth > MAX_SCHEMA_DEPTH || out.len() >= MAX_SCHEMA_PARTS {
            return;
        }
        out.push(node);
        let reference = node.get("$ref").and_then(Value::as_str);
        if let Some(target) = reference.and_then(|r| resolve(r, self.components)) {
            self.collect(target, depth + 1, out);
        }
        for keyword in ["allOf", "anyOf", "oneOf"] {
            for member in node.get(keyword).and_then(Value::as_array).into_iter().flatten() {
                self.collect(member, depth + 1, out);
            }
        }
    }

    /// The schema of field `name` of this object schema (`properties`, else the map value
    /// schema `additionalProperties`).
    pub(crate) fn property(self, name: &str) -> Self {
        let parts = self.parts();
        let declared = parts.iter().find_map(|p| p.get("properties")?.as_object()?.get(name));
        let map_value =
            || parts.iter().find_map(|p| p.get("additionalProperties").filter(|s| s.is_object()));
        self.with(declared.or_else(map_value))
    }

    /// The element schema of this list schema.
    pub(crate) fn items(self) -> Self {
        self.with(self.parts().iter().find_map(|p| p.get("items").filter(|s| s.is_object())))
    }

    pub(crate) fn meta(self) -> Meta<'a> {
        let parts = self.parts();
        let extension = |name| parts.iter().find_map(|p| p.get(name)?.as_str());
        let strategy = extension(STRATEGY_EXTENSION).unwrap_or_default();
        let has = |s: &str| strategy.split(',').any(|part| part.trim() == s);
        Meta {
            merge: has("merge"),
            replace: has("replace"),
            merge_key: extension(MERGE_KEY_EXTENSION).filter(|key| !key.is_empty()),
        }
    }
}

/// Resolves `#/components/schemas/<name>[/<json pointer>]`; other references are unknown.
fn resolve<'a>(reference: &str, components: &'a Object) -> Option<&'a Value> {
    let rest = reference.strip_prefix(COMPONENT_REF_PREFIX)?;
    let (name, pointer) =
        rest.split_once('/').map_or((rest, String::new()), |(n, p)| (n, format!("/{p}")));
    components.get(&name.replace("~1", "/").replace("~0", "~"))?.pointer(&pointer)
}

/// Where in the patch we are, for error messages; rendered only on error.
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl<'p> Path<'p> {
    fn key(&'p self, key: &'p str) -> Path<'p> {
        Path::Key(self, key)
    }

    fn index(&'p self, index: usize) -> Path<'p> {
        Path::Index(self, index)
    }

    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, index) => {
                parent.render(out);
                out.push_str(&format!("[{index}]"));
            }
        }
    }

    fn error(&self, message: impl Into<String>) -> PatchError {
        let mut path = String::new();
        self.render(&mut path);
        PatchError { path, message: message.into() }
    }
}

/// Merges `patch` into the value `original` (`None` = absent) of a field with schema `field`.
/// Returns `None` when the field is to be removed.
fn merge_value(
    original: Option<Value>,
    patch: &Value,
    field: SchemaRef<'_>,
    path: &Path<'_>,
) -> Patched<Option<Value>> {
    Ok(match patch {
        Value::Null => None,
        Value::Object(patch) => {
            let original = match original {
                Some(Value::Object(original)) if !field.meta().replace => Some(original),
                _ => None,
            };
            merge_map(original, patch, field, path)?.map(Value::Object)
        }
        Value::Array(patch) if field.meta().merge => {
            let original = match original {
                Some(Value::Array(original)) => original,
                _ => Vec::new(),
            };
            Some(Value::Array(merge_list(original, patch, field, path)?))
        }
        Value::Array(patch) => Some(Value::Array(fresh_list(patch, field.items(), path)?)),
        scalar => Some(scalar.clone()),
    })
}

/// A list that replaces: its object elements are taken as new values (directives applied).
fn fresh_list(list: &[Value], element: SchemaRef<'_>, path: &Path<'_>) -> Patched<Vec<Value>> {
    let mut out = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        match item {
            Value::Null => out.push(Value::Null),
            _ => out.extend(merge_value(None, item, element, &path.index(index))?),
        }
    }
    Ok(out)
}

/// Merges the patch map into `original` (`None` = absent: the patch is taken as a new value).
/// Returns `None` for `"$patch": "delete"`.
fn merge_map(
    original: Option<Object>,
    patch: &Object,
    schema: SchemaRef<'_>,
    path: &Path<'_>,
) -> Patched<Option<Object>> {
    let original = match patch.get(PATCH) {
        None => original,
        Some(directive) => match directive.as_str() {
            Some("merge") => original,
            Some("replace") => None,
            Some("delete") => return Ok(None),
            _ => return Err(path.key(PATCH).error(format!("unknown patch directive {directive}"))),
        },
    };
    let retain = patch.get(RETAIN_KEYS).map(|list| retain_keys(list, patch, path)).transpose()?;
    let mut result = original.unwrap_or_default();

    let mut ordered = Vec::new();
    for (key, order) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            if set_element_order(&mut result, patch, field, order, schema, path, key)? {
                ordered.push(field);
            }
        }
    }
    for (key, value) in patch {
        if key.starts_with('$') || ordered.contains(&key.as_str()) {
            continue;
        }
        let current = result.get_mut(key).map(std::mem::take);
        match merge_value(current, value, schema.property(key), &path.key(key))? {
            Some(merged) => {
                result.insert(key.clone(), merged);
            }
            None => {
                result.retain(|k, _| k != key);
            }
        }
    }
    for (key, values) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(values) = values else {
                return Err(path.key(key).error("must be a list"));
            };
            if let Some(Value::Array(list)) = result.get_mut(field) {
                list.retain(|item| !values.iter().any(|value| same(value, item)));
            }
        }
    }
    if let Some(retain) = retain {
        result.retain(|key, _| retain.contains(&key.as_str()));
    }
    Ok(Some(result))
}

/// Parses `$retainKeys` and checks that it lists every field the patch sets.
fn retain_keys<'v>(list: &'v Value, patch: &Object, path: &Path<'_>) -> Patched<Vec<&'v str>> {
    let path = path.key(RETAIN_KEYS);
    let keys = list
        .as_array()
        .and_then(|list| list.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| path.error("must be a list of strings"))?;
    let unlisted = patch.iter().find(|(key, value)| {
        !key.starts_with('$') && !value.is_null() && !keys.contains(&key.as_str())
    });
    match unlisted {
        Some((key, _)) => Err(path.error(format!("does not list the patched field {key:?}"))),
        None => Ok(keys),
    }
}

/// Applies `"$setElementOrder/<field>": order` to `result`, merging the patch's `<field>` list
/// first. Returns whether the field was handled (it is then skipped by the caller).
fn set_element_order(
    result: &mut Object,
    patch: &Object,
    field: &str,
    order: &Value,
    schema: SchemaRef<'_>,
    path: &Path<'_>,
    directive: &str,
) -> Patched<bool> {
    let field_schema = schema.property(field);
    let meta = field_schema.meta();
    if !meta.merge {
        return Ok(false);
    }
    let here = path.key(directive);
    let Value::Array(order) = order else {
        return Err(here.error("must be a list"));
    };
    let key = meta.merge_key;
    let order_ids = order.iter().enumerate().map(|(index, item)| {
        identity(item, key).cloned().ok_or_else(|| missing_key(&here.index(index), key))
    });
    let order_ids = order_ids.collect::<Patched<Vec<_>>>()?;
    let patch_list = match patch.get(field) {
        None => None,
        Some(Value::Array(list)) => Some(list),
        // `null` or another type: handled as a plain value by the caller.
        Some(_) => return Ok(false),
    };
    let original = match result.get_mut(field) {
        Some(Value::Array(list)) => Some(std::mem::take(list)),
        _ => None,
    };
    if original.is_none() && patch_list.is_none() {
        return Ok(false);
    }
    let original = original.unwrap_or_default();
    let server_ids = identities(&original, key);
    let merged = match patch_list {
        Some(list) => {
            check_order(list, &order_ids, key, &here)?;
            merge_list(original, list, field_schema, &path.key(field))?
        }
        None => original,
    };
    result.insert(field.to_owned(), Value::Array(normalize(merged, &order_ids, &server_ids, key)));
    Ok(true)
}

/// Kubernetes' `validatePatchWithSetOrderList`: the patch list's elements must appear in the
/// `$setElementOrder` list, in the same relative order.
fn check_order(list: &[Value], order: &[Value], key: Option<&str>, path: &Path<'_>) -> Patched<()> {
    if order.is_empty() {
        return Ok(());
    }
    let mut rest = order;
    let ids = list.iter().filter(|item| item.get(PATCH).is_none()).filter_map(|i| identity(i, key));
    for id in ids {
        match rest.iter().position(|o| same(o, id)) {
            Some(at) => rest = &rest[at + 1..],
            None => return Err(path.error("does not match the order of the patch list")),
        }
    }
    Ok(())
}

/// Merges a patch list into the original list of a field whose strategy is `merge`.
fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    field: SchemaRef<'_>,
    path: &Path<'_>,
) -> Patched<Vec<Value>> {
    let Some(key) = field.meta().merge_key else {
        return merge_primitives(original, patch, path);
    };
    let element = field.items();
    let mut merged = original;
    let mut regular = Vec::with_capacity(patch.len());
    let mut replace = false;
    for (index, item) in patch.iter().enumerate() {
        let here = path.index(index);
        let Value::Object(item) = item else {
            return Err(here.error("an element of a merged list must be an object"));
        };
        let id = || item.get(key).ok_or_else(|| missing_key(&here, Some(key)));
        let Some(directive) = item.get(PATCH) else {
            regular.push((index, item, id()?));
            continue;
        };
        match directive.as_str() {
            Some("merge") => regular.push((index, item, id()?)),
            Some("replace") => replace = true,
            Some("delete") => {
                let id = id()?;
                merged.retain(|original| !original.get(key).is_some_and(|v| same(v, id)));
            }
            _ => return Err(here.key(PATCH).error(format!("unknown patch directive {directive}"))),
        }
    }
    if replace {
        let mut out = Vec::with_capacity(regular.len());
        for (index, item, _) in regular {
            out.extend(merge_map(None, item, element, &path.index(index))?.map(Value::Object));
        }
        return Ok(out);
    }
    let server_ids = identities(&merged, Some(key));
    let patch_ids: Vec<Value> = regular.iter().map(|(_, _, id)| (*id).clone()).collect();
    for (index, item, id) in regular {
        let here = path.index(index);
        match merged.iter().position(|original| original.get(key).is_some_and(|v| same(v, id))) {
            Some(at) => {
                let current = match std::mem::take(&mut merged[at]) {
                    Value::Object(current) => Some(current),
                    _ => None,
                };
                match merge_map(current, item, element, &here)? {
                    Some(updated) => merged[at] = Value::Object(updated),
                    None => {
                        merged.remove(at);
                    }
                }
            }
            None => merged.extend(merge_map(None, item, element, &here)?.map(Value::Object)),
        }
    }
    Ok(normalize(merged, &patch_ids, &server_ids, Some(key)))
}

/// Unites two lists of primitives without duplicates.
fn merge_primitives(original: Vec<Value>, patch: &[Value], path: &Path<'_>) -> Patched<Vec<Value>> {
    if let Some(index) = patch.iter().position(Value::is_object) {
        return Err(path.index(index).error("cannot merge a list of objects without a merge key"));
    }
    let server_ids = original.clone();
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for item in original.into_iter().chain(patch.iter().cloned()) {
        if !merged.iter().any(|m| same(m, &item)) {
            merged.push(item);
        }
    }
    Ok(normalize(merged, patch, &server_ids, None))
}

/// Kubernetes' `normalizeElementOrder`: the elements named in `order` come in that order,
/// the others in their `server` order, and the two sequences are interleaved by server position.
fn normalize(
    merged: Vec<Value>,
    order: &[Value],
    server: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let rank = |ids: &[Value], item: &Value| {
        identity(item, key).and_then(|id| ids.iter().position(|other| same(other, id)))
    };
    let (mut named, mut server_only): (Vec<_>, Vec<_>) =
        merged.into_iter().partition(|item| rank(order, item).is_some());
    named.sort_by_key(|item| rank(order, item));
    server_only.sort_by_key(|item| rank(server, item).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((rank(server, l), rank(server, r)), (Some(l), Some(r)) if l < r)
            }
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    out
}

/// What identifies a list element: its merge key's value, or the primitive itself.
fn identity<'v>(item: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(key) => item.get(key),
        None => Some(item),
    }
}

fn identities(list: &[Value], key: Option<&str>) -> Vec<Value> {
    list.iter().filter_map(|item| identity(item, key)).cloned().collect()
}

fn missing_key(path: &Path<'_>, key: Option<&str>) -> PatchError {
    path.error(format!("does not contain declared merge key: {}", key.unwrap_or_default()))
}

/// JSON equality where numbers compare by value (`80` equals `80.0`), as in Go.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
        }
        _ => a == b,
    }
}
