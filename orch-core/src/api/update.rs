//! Updates: [`Api::replace`], [`Api::replace_status`], [`Api::patch`],
//! [`Api::patch_status`], [`Api::patch_with`] and
//! [`Api::patch_status_with`], and the read-modify-write loop behind them (and
//! behind [`Api::bind`]).

use serde_json::Value;

use super::{Api, Part, MAX_RETRIES};
use crate::admission::Operation;
use crate::resource::Object;
use crate::store::{DeleteRangeRequest, KeyRange, TxnOp};
use crate::{Error, Result};

impl<K: Object> Api<K> {
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
        if let Some(remote) = self.remote() {
            return self.remote_replace(remote, obj, part == Part::Status).await;
        }
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
        if let Some(remote) = self.remote() {
            return self.remote_merge_patch(remote, name, patch, part == Part::Status).await;
        }
        let expected = patch.pointer("/metadata/resourceVersion").and_then(Value::as_str);
        self.patch_part_with(name, expected, part, |current| {
            let mut value = current.clone();
            json_patch::merge(&mut value, patch);
            Ok(value)
        })
        .await
    }

    /// Read-modify-write with any patch: `patch` turns the object as stored
    /// (its JSON) into the object to write, and is called again with the
    /// newer object when a concurrent write wins (up to a few times), as
    /// kube-apiserver reapplies a patch. A `resource_version` is a
    /// precondition: the stored object must be at it. The result is
    /// validated, admitted and written as [`replace`](Self::replace) writes;
    /// on kinds with a status subresource, status changes are ignored. What
    /// JSON patch (RFC 6902) and strategic merge patch are built on.
    ///
    /// Errors: as [`replace`](Self::replace); whatever `patch` returns;
    /// [`Error::Invalid`] naming the field if the result does not fit `K`.
    pub async fn patch_with(
        &self,
        name: &str,
        resource_version: Option<&str>,
        patch: impl Fn(&Value) -> Result<Value>,
    ) -> Result<K> {
        self.patch_part_with(name, resource_version, Part::Main, patch).await
    }

    /// [`patch_with`](Self::patch_with) on the status only.
    ///
    /// Errors: as [`patch_with`](Self::patch_with).
    pub async fn patch_status_with(
        &self,
        name: &str,
        resource_version: Option<&str>,
        patch: impl Fn(&Value) -> Result<Value>,
    ) -> Result<K> {
        self.patch_part_with(name, resource_version, Part::Status, patch).await
    }

    async fn patch_part_with(
        &self,
        name: &str,
        resource_version: Option<&str>,
        part: Part,
        patch: impl Fn(&Value) -> Result<Value>,
    ) -> Result<K> {
        if let Some(remote) = self.remote() {
            let status = part == Part::Status;
            return self.remote_patch_with(remote, name, resource_version, status, patch).await;
        }
        let namespace = self.request_namespace().to_owned();
        let object = self.object_name(&namespace, name);
        let expected = match resource_version {
            Some(rv) => Self::parse_resource_version(rv, &object)?,
            None => None,
        };
        self.update(&namespace, name, expected, None, part, patch).await
    }

    /// The read-modify-write loop behind replace, patch and the status writes.
    pub(super) async fn update(
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
            let mut obj =
                self.admit(Operation::Update, obj, Some(&current), part == Part::Main).await?;
            if part == Part::Main
                && desired_state_changed(&current, &Self::to_value(&obj, &object)?)
            {
                obj.meta_mut().generation += 1;
            }
            if self.dry_run {
                self.encode(&obj, &object)?;
                obj.meta_mut().resource_version = kv.mod_revision.to_string();
                return Ok(obj);
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
                (TxnOp::Put(self.put_request(key.clone(), value).await?), obj)
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
                    reason: format!("field is immutable ({stored:?} to {given:?})"),
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
        // managedFields left out (or empty) keep the stored ones; `[{}]`
        // clears them, as Kubernetes.
        match meta.get("managedFields").and_then(Value::as_array) {
            None => {
                if let Some(kept) = current_meta.get("managedFields") {
                    meta.insert("managedFields".into(), kept.clone());
                }
            }
            Some(entries) if entries.is_empty() => {
                match current_meta.get("managedFields") {
                    Some(kept) => meta.insert("managedFields".into(), kept.clone()),
                    None => meta.remove("managedFields"),
                };
            }
            Some(entries) if entries.iter().all(|e| e.get("manager").is_none()) => {
                meta.remove("managedFields");
            }
            Some(_) => {}
        }
        Ok(Value::Object(new))
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
