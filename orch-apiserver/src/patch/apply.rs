//! Server-side apply (`application/apply-patch+yaml`, `kubectl apply
//! --server-side`), after Kubernetes' structured-merge-diff: an applier
//! (the request's `fieldManager`) owns the fields of the configuration it
//! applies, recorded in `metadata.managedFields` as a FieldsV1 set
//! (`{"f:spec": {"f:replicas": {}}}`, list items by their patch merge key
//! as `"k:{\"name\":\"nginx\"}"`, set members as `"v:\"a\""`, `"."` for an
//! item itself).
//!
//! Applying a configuration:
//! - sets its fields on the object (merged as a strategic merge patch:
//!   lists with a merge key merge by it, other lists are atomic);
//! - refuses, with a 409 listing them, fields whose value it would change
//!   while another applier owns them — unless `force`, which takes them
//!   over; equal values are owned together;
//! - removes the fields this applier applied before and no longer does,
//!   where no other applier owns them.
//!
//! Other writes through the API server (create, PUT, the other patches)
//! are recorded too ([`record_update`]): their manager's `Update` entry
//! gains the fields they changed, taken from whoever owned them, so an
//! apply that would change a field `kubectl scale` or `kubectl create` set
//! conflicts with that manager, as in Kubernetes. Writes that do not pass
//! through the API server (an embedded controller's `Api` on the store)
//! and status writes are not recorded.

use serde_json::{json, Map, Value};

use super::strategic::{self, SchemaRef};

/// A field another applier owns that this apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// The field, as Kubernetes prints it: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="nginx"].image`.
    pub field: String,
}

/// Why an apply did not go through.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyError {
    /// Fields other appliers own; apply with `force` to take them.
    Conflicts(Vec<Conflict>),
    /// The configuration cannot be merged (a list item without its merge key, …).
    Invalid(String),
}

/// Who applies, and how.
#[derive(Clone, Copy, Debug)]
pub struct Applier<'a> {
    /// The `fieldManager`.
    pub manager: &'a str,
    /// Take over conflicting fields (`force=true`).
    pub force: bool,
    /// The configuration's `apiVersion`, recorded with the fields.
    pub api_version: &'a str,
    /// Now, as an RFC 3339 time.
    pub now: &'a str,
}

/// `config` applied by `applier` to `live` (`None`: the object is created
/// from it).
///
/// Errors: [`ApplyError::Conflicts`] without `force`;
/// [`ApplyError::Invalid`] when the configuration does not merge.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    schema: SchemaRef<'_>,
    applier: Applier<'_>,
) -> Result<Value, ApplyError> {
    let new_set = field_set(config, schema, true);
    let mut entries: Vec<Value> =
        live.and_then(|l| l["metadata"]["managedFields"].as_array().cloned()).unwrap_or_default();
    let mine = |e: &Value| e["manager"] == applier.manager && e["operation"] == "Apply";
    let previous = entries.iter().find(|e| mine(e)).map(|e| e["fieldsV1"].clone());
    let previous = previous.unwrap_or_else(|| json!({}));
    let mut conflicts = Vec::new();
    let mut taken = Vec::new();
    if let Some(live) = live {
        for path in leaves(&new_set) {
            // An item's `.` is its existence, which both sides agree on.
            if path.last().is_some_and(|s| s == ".")
                || value_at(live, &path) == value_at(config, &path)
            {
                continue;
            }
            for e in entries.iter().filter(|e| !mine(e)) {
                if contains(&e["fieldsV1"], &path) {
                    let manager = e["manager"].as_str().unwrap_or("").to_owned();
                    conflicts.push(Conflict { manager, field: render(&path) });
                    taken.push(path.clone());
                }
            }
        }
    }
    if !conflicts.is_empty() && !applier.force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let mut merged = match live {
        Some(live) => strategic::apply(live, config, schema)
            .map_err(|e| ApplyError::Invalid(e.to_string()))?,
        None => config.clone(),
    };
    for path in leaves(&previous) {
        let owned_elsewhere = entries.iter().any(|e| !mine(e) && contains(&e["fieldsV1"], &path));
        if !contains(&new_set, &path) && !owned_elsewhere {
            remove_at(&mut merged, &path);
        }
    }
    for e in entries.iter_mut().filter(|e| !mine(e)) {
        for path in &taken {
            remove_leaf(&mut e["fieldsV1"], path);
        }
    }
    entries.retain(|e| !mine(e) && e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    entries.push(json!({
        "manager": applier.manager, "operation": "Apply", "apiVersion": applier.api_version,
        "time": applier.now, "fieldsType": "FieldsV1", "fieldsV1": new_set,
    }));
    if !merged["metadata"].is_object() {
        merged["metadata"] = json!({});
    }
    merged["metadata"]["managedFields"] = Value::Array(entries);
    Ok(merged)
}

/// Records a write that is not an apply: `manager`'s `Update` entry gains
/// the fields `after` changed from `before` (`None`: a create, every
/// field), and the other entries lose them — an update takes fields over
/// without a conflict. `after`'s `managedFields` are read (a client may
/// send them back; left out, `before`'s are kept) and rewritten.
pub fn record_update(
    before: Option<&Value>,
    after: &mut Value,
    schema: SchemaRef<'_>,
    applier: Applier<'_>,
) {
    let after_set = field_set(after, schema, true);
    // A create changed every field it sets.
    let changed = match before {
        None => after_set,
        Some(before) => {
            let mut changed = json!({});
            for path in leaves(&after_set) {
                let same = match path.last().map(String::as_str) {
                    // A list item's `.`: changed only if the item is new.
                    Some(".") => value_at(before, &path).is_some(),
                    _ => value_at(before, &path) == value_at(after, &path),
                };
                if !same {
                    insert_path(&mut changed, &path);
                }
            }
            changed
        }
    };
    let sent = after["metadata"]["managedFields"].as_array().filter(|e| !e.is_empty()).cloned();
    let kept = before.and_then(|b| b["metadata"]["managedFields"].as_array().cloned());
    let mut entries = sent.or(kept).unwrap_or_default();
    let mine = |e: &Value| e["manager"] == applier.manager && e["operation"] == "Update";
    let changed_leaves = leaves(&changed);
    for e in entries.iter_mut().filter(|e| !mine(e)) {
        for path in &changed_leaves {
            remove_leaf(&mut e["fieldsV1"], path);
        }
    }
    let mut own =
        entries.iter().find(|e| mine(e)).map(|e| e["fieldsV1"].clone()).unwrap_or(json!({}));
    for path in &changed_leaves {
        insert_path(&mut own, path);
    }
    entries.retain(|e| !mine(e) && e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    if own.as_object().is_some_and(|o| !o.is_empty()) {
        entries.push(json!({
            "manager": applier.manager, "operation": "Update", "apiVersion": applier.api_version,
            "time": applier.now, "fieldsType": "FieldsV1", "fieldsV1": own,
        }));
    }
    if !after["metadata"].is_object() {
        after["metadata"] = json!({});
    }
    after["metadata"]["managedFields"] = Value::Array(entries);
}

fn insert_path(set: &mut Value, path: &[String]) {
    let mut node = set;
    for segment in path {
        if !node.is_object() {
            *node = json!({});
        }
        let Value::Object(map) = node else { return };
        node = map.entry(segment.clone()).or_insert_with(|| json!({}));
    }
}

/// The metadata fields an applier can own; the rest are the server's.
const OWNED_METADATA: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

/// The FieldsV1 set of the fields `value` sets.
fn field_set(value: &Value, schema: SchemaRef<'_>, root: bool) -> Value {
    let Value::Object(map) = value else { return json!({}) };
    let mut set = Map::new();
    for (key, child) in map {
        if root && matches!(key.as_str(), "apiVersion" | "kind" | "status") {
            continue;
        }
        let entry = if root && key == "metadata" {
            let kept: Map<String, Value> = child
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| OWNED_METADATA.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            if kept.is_empty() {
                continue;
            }
            field_set(&Value::Object(kept), schema.property(key), false)
        } else if child.is_object() || child.is_array() {
            child_set(child, schema.property(key))
        } else {
            // A scalar is a leaf: its schema is not needed.
            json!({})
        };
        set.insert(format!("f:{key}"), entry);
    }
    Value::Object(set)
}

/// The set below one field whose value is `value` and schema `field`.
fn child_set(value: &Value, field: SchemaRef<'_>) -> Value {
    match value {
        Value::Object(m) if !m.is_empty() => field_set(value, field, false),
        Value::Array(items) => {
            let meta = field.meta();
            let items_schema = field.items();
            match (meta.merge, meta.merge_key) {
                (true, Some(key)) => {
                    let mut set = Map::new();
                    for item in items {
                        let Some(k) = item.get(key) else { continue };
                        let mut entry = field_set(item, items_schema, false);
                        if let Value::Object(e) = &mut entry {
                            e.insert(".".into(), json!({}));
                        }
                        set.insert(format!("k:{}", json!({ key: k })), entry);
                    }
                    Value::Object(set)
                }
                (true, None) => {
                    Value::Object(items.iter().map(|v| (format!("v:{v}"), json!({}))).collect())
                }
                _ => json!({}),
            }
        }
        _ => json!({}),
    }
}

/// The paths of a set's leaves (`{}` entries), `"."` markers included.
fn leaves(set: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    collect(set, &mut Vec::new(), &mut out);
    out
}

fn collect(set: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some(map) = set.as_object() else { return };
    if map.is_empty() && !prefix.is_empty() {
        out.push(prefix.clone());
    }
    for (k, v) in map {
        prefix.push(k.clone());
        collect(v, prefix, out);
        prefix.pop();
    }
}

/// True if the set holds `path` as a leaf.
fn contains(set: &Value, path: &[String]) -> bool {
    let mut node = set;
    for segment in path {
        match node.get(segment) {
            Some(next) => node = next,
            None => return false,
        }
    }
    node.as_object().is_some_and(|m| m.is_empty())
}

fn remove_leaf(set: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = set;
    for segment in parents {
        match node.get_mut(segment) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(last);
    }
}

/// The list item a `k:{…}` segment names.
fn item_matches(item: &Value, key: &Value) -> bool {
    key.as_object().is_some_and(|k| k.iter().all(|(name, v)| item.get(name) == Some(v)))
}

/// The value a path names in an object: `None` where it is not set.
fn value_at<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut node = value;
    for segment in path {
        node = step(node, segment)?;
    }
    Some(node)
}

fn step<'v>(node: &'v Value, segment: &str) -> Option<&'v Value> {
    if segment == "." {
        return Some(node);
    }
    if let Some(field) = segment.strip_prefix("f:") {
        return node.get(field);
    }
    let items = node.as_array()?;
    if let Some(key) = segment.strip_prefix("k:") {
        let key: Value = serde_json::from_str(key).ok()?;
        return items.iter().find(|i| item_matches(i, &key));
    }
    let member: Value = serde_json::from_str(segment.strip_prefix("v:")?).ok()?;
    items.iter().find(|i| **i == member)
}

/// Removes what a path names: a field, a list item (`k:…` then `.`), a set
/// member (`v:…`).
fn remove_at(value: &mut Value, path: &[String]) {
    let path: Vec<&String> = path.iter().filter(|s| s.as_str() != ".").collect();
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = value;
    for segment in parents {
        let next = match segment.strip_prefix("f:") {
            Some(field) => node.get_mut(field),
            None => {
                let key: Value = match segment.strip_prefix("k:").map(serde_json::from_str) {
                    Some(Ok(k)) => k,
                    _ => return,
                };
                node.as_array_mut()
                    .and_then(|items| items.iter_mut().find(|i| item_matches(i, &key)))
            }
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = node.as_object_mut() {
            map.remove(field);
        }
    } else if let Some(items) = node.as_array_mut() {
        if let Some(key) = last.strip_prefix("k:").and_then(|k| serde_json::from_str(k).ok()) {
            items.retain(|i| !item_matches(i, &key));
        } else if let Some(member) =
            last.strip_prefix("v:").and_then(|v| serde_json::from_str::<Value>(v).ok())
        {
            items.retain(|i| *i != member);
        }
    }
}

/// `.spec.template.spec.containers[name="nginx"].image`.
fn render(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if let Some(field) = segment.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = segment.strip_prefix("k:") {
            let key: Value = serde_json::from_str(key).unwrap_or(Value::Null);
            let parts: Vec<String> = key
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(member) = segment.strip_prefix("v:") {
            out.push_str(&format!("[{member}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
