//! The events recorder: Event objects about other objects, as client-go's
//! recorder writes them:
//!
//! * repeats are aggregated into one object's `count`, so a crash loop
//!   updates one Event instead of writing thousands;
//! * a spam filter per involved object (client-go's
//!   `EventSourceObjectSpamFilter`): a token bucket of 25 events that refills
//!   one every 5 minutes; events past it are dropped;
//! * Events expire an hour after their last write (kube-apiserver's
//!   `--event-ttl`, through a store lease; see [`TtlLeases`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tokio::time::Instant;

use super::token_bucket::TokenBucket;
use crate::api::{Api, TtlLeases, DEFAULT_EVENT_TTL};
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

/// An involved object, as the recorder keys it: kind, namespace, name, uid.
type Involved = (String, String, String, String);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Aggregate {
    involved: Involved,
    type_: EventType,
    reason: String,
    message: String,
}

/// client-go's spam filter: a bucket of this many events per object…
pub const SPAM_BURST: u32 = 25;
/// …that refills one event every this long (client-go's qps of 1/300).
pub const SPAM_REFILL: Duration = Duration::from_secs(300);

/// Writes Events on behalf of one component. Cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    store: Arc<dyn Store>,
    component: String,
    host: Option<String>,
    /// Event name and count of each aggregate written by this recorder.
    seen: Arc<Mutex<HashMap<Aggregate, (String, i32)>>>,
    /// The spam filter's buckets, by involved object (kind, namespace,
    /// name, uid).
    buckets: Arc<Mutex<HashMap<Involved, TokenBucket>>>,
    burst: u32,
    refill: Duration,
    ttl: Option<Arc<TtlLeases>>,
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
            buckets: Arc::new(Mutex::new(HashMap::new())),
            burst: SPAM_BURST,
            refill: SPAM_REFILL,
            ttl: Some(Arc::new(TtlLeases::new(DEFAULT_EVENT_TTL))),
        }
    }

    /// The same recorder with another spam filter: `burst` events per
    /// object, refilled one per `refill` (defaults [`SPAM_BURST`],
    /// [`SPAM_REFILL`]).
    #[must_use]
    pub fn spam_filter(mut self, burst: u32, refill: Duration) -> Self {
        self.burst = burst;
        self.refill = refill;
        self
    }

    /// The same recorder with Events that expire `ttl` after their last
    /// write (default one hour), or never with `None`.
    #[must_use]
    pub fn event_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl.map(|t| Arc::new(TtlLeases::new(t)));
        self
    }

    /// Takes one token of `object`'s bucket; false if it is empty.
    fn allow(&self, object: &Involved) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_AGGREGATES && !buckets.contains_key(object) {
            // Bounded memory, as the aggregates.
            buckets.clear();
        }
        let qps = 1.0 / self.refill.as_secs_f64().max(f64::MIN_POSITIVE);
        buckets
            .entry(object.clone())
            .or_insert_with(|| TokenBucket::new(qps, self.burst, now))
            .try_take(now)
    }

    /// Records an event about `involved`. A repeat of the same type, reason
    /// and message about the same object raises the existing Event's `count`
    /// and `lastTimestamp` instead of creating another. `None` if the spam
    /// filter dropped it (the object's bucket is empty).
    ///
    /// Errors: the Api's.
    pub async fn record(
        &self,
        involved: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<Option<Event>> {
        let namespace = if involved.namespace.is_empty() {
            "default".to_owned()
        } else {
            involved.namespace.clone()
        };
        let mut api: Api<Event> = Api::namespaced(self.store.clone(), &namespace);
        if let Some(ttl) = &self.ttl {
            api = api.with_ttl(ttl.clone());
        }
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
        if !self.allow(&key.involved) {
            return Ok(None);
        }
        let now = Time::now();
        let previous = self.seen.lock().get(&key).cloned();
        if let Some((name, count)) = previous {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            match api.patch(&name, &patch).await {
                Ok(updated) => {
                    self.seen.lock().insert(key, (name, count + 1));
                    return Ok(Some(updated));
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
        Ok(Some(created))
    }
}
