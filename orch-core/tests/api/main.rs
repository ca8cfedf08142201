//! The typed Api over MemStore: Kubernetes' semantics for create, read,
//! update, patch, delete, list and watch, and bad input refused with nothing
//! stored changed.

mod admission;
mod custom_kinds;
mod delete;
mod reads;
mod update_rules;
mod validation;
mod writes;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use orch_core::admission::{
    AdmissionChain, AdmissionRequest, MutatingHook, Operation, ValidatingHook,
};
use orch_core::api::{
    DeleteOutcome, DeleteParams, ListParams, Preconditions, WatchEvent, WatchParams,
};
use orch_core::kinds::pod::{Container, PodPhase, PodSpec, PodStatus};
use orch_core::store::{KeyRange, RangeRequest, Store};
use orch_core::{impl_resource, Api, ConfigMap, Error, Node, ObjectMeta, Pod, Resource};
use orch_store::MemStore;
use serde::{Deserialize, Serialize};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(10);

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name).with_label("app", "web"),
        spec: PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: "myapp:1.4.0".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn setup() -> (Arc<MemStore>, Api<Pod>) {
    let store = Arc::new(MemStore::new());
    let api = Api::namespaced(store.clone(), "default");
    (store, api)
}

async fn next_event<S>(stream: &mut S) -> WatchEvent<Pod>
where
    S: Stream<Item = orch_core::Result<WatchEvent<Pod>>> + Unpin,
{
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a watch event within the deadline")
        .expect("the stream is open")
        .expect("no watch error")
}

/// The raw bytes of every key under /registry, to show nothing changed.
async fn snapshot(store: &MemStore) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    store
        .range(RangeRequest::new(KeyRange::prefix("/registry/")))
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| (kv.key.to_vec(), kv.value.to_vec(), kv.mod_revision))
        .collect()
}
