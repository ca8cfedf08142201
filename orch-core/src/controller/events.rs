//! The events recorder: Event objects about other objects, with repeats
//! aggregated into one object's `count` (as client-go's recorder), so a
//! crash loop updates one Event instead of writing thousands.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::json;

use crate::api::Api;
use crate::kinds::event::{Event, EventSource, ObjectReference};
use crate::meta::ObjectMeta;
use crate::resource::Resource;
use crate::store::Store;
use crate::time::{MicroTime, Time};
use crate::Result;

/// `Normal` or `Warning`, the two Event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something may need attention.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// A reference to `obj` for an Event's `involvedObject`.
pub fn object_reference<K: Resource>(obj: &K) -> ObjectReference {
    let m = obj.meta();
    ObjectReference {
        api_version: K::api_resource().api_version,
        kind: K::KIND.to_owned(),
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        uid: m.uid.clone(),
        resource_version: m.resource_version.clone(),
        field_path: String::new(),
    }
}

/// Distinct events a recorder remembers for aggregation.
const MAX_AGGREGATES: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Aggregate {
    involved: (String, String, String, String),
    type_: EventType,
    reason: String,
    message: String,
}

/// Writes Events on behalf of one component. Cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    store: Arc<dyn Store>,
    component: String,
    host: Option<String>,
    /// Event name and count of each aggregate written by this recorder.
    seen: Arc<Mutex<HashMap<Aggregate, (String, i32)>>>,
}

impl std::fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecorder")
            .field("component", &self.component)
            .field("host", &self.host)
            .finish()
    }
}

impl EventRecorder {
    /// A recorder for `component` (e.g. `replicaset-controller`), on `host`
    /// if it runs on a node.
    pub fn new(store: Arc<dyn Store>, component: &str, host: Option<&str>) -> Self {
        EventRecorder {
            store,
            component: component.to_owned(),
            host: host.map(str::to_owned),
            seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Records an event about `involved`. A repeat of the same type, reason
    /// and message about the same object raises the existing Event's `count`
    /// and `lastTimestamp` instead of creating another.
    ///
    /// Errors: the Api's.
    pub async fn record(
        &self,
        involved: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<Event> {
        let namespace = if involved.namespace.is_empty() {
            "default".to_owned()
        } else {
            involved.namespace.clone()
        };
        let api: Api<Event> = Api::namespaced(self.store.clone(), &namespace);
        let key = Aggregate {
            involved: (
                involved.kind.clone(),
                involved.namespace.clone(),
                involved.name.clone(),
                involved.uid.clone(),
            ),
            type_,
            reason: reason.to_owned(),
            message: message.to_owned(),
        };
        let now = Time::now();
        let previous = self.seen.lock().get(&key).cloned();
        if let Some((name, count)) = previous {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            match api.patch(&name, &patch).await {
                Ok(updated) => {
                    self.seen.lock().insert(key, (name, count + 1));
                    return Ok(updated);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let event = Event {
            metadata: ObjectMeta {
                generate_name: format!("{}.", involved.name),
                namespace: namespace.clone(),
                ..Default::default()
            },
            involved_object: involved.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            first_timestamp: Some(now),
            last_timestamp: Some(now),
            count: Some(1),
            type_: Some(type_.as_str().to_owned()),
            event_time: Some(MicroTime::now()),
            reporting_component: Some(self.component.clone()),
            reporting_instance: self.host.clone(),
            ..Default::default()
        };
        let created = api.create(&event).await?;
        let mut seen = self.seen.lock();
        if seen.len() >= MAX_AGGREGATES {
            // Bounded memory: forget old aggregates; a repeat after this
            // starts a new Event instead of counting on the old one.
            seen.clear();
        }
        seen.insert(key, (created.metadata.name.clone(), 1));
        drop(seen);
        Ok(created)
    }
}
