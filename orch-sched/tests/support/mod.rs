//! What the scheduler tests share: nodes and pods to create, a stand-in for
//! node agents, and a MemStore-backed scheduler to drive.
#![allow(dead_code)] // each test binary uses its own part of it

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orch_core::api::ListParams;
use orch_core::controller::InformerFactory;
use orch_core::kinds::node::NodeStatus;
use orch_core::kinds::pod::{Container, PodSpec, ResourceRequirements};
use orch_core::testing::wait_for;
use orch_core::{Api, Event, Node, ObjectMeta, Pod, Quantity};
use orch_sched::framework::config::ProfileConfig;
use orch_sched::framework::Registry;
use orch_sched::metrics::SchedulerMetrics;
use orch_sched::scheduler::{Scheduler, SchedulerConfig};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn node(name: &str, cpu: &str, labels: &[(&str, &str)]) -> Node {
    let mut meta = ObjectMeta::named(name).with_label("kubernetes.io/hostname", name);
    for (k, v) in labels {
        meta.labels.insert((*k).into(), (*v).into());
    }
    let alloc = [
        ("cpu".to_string(), Quantity::from(cpu)),
        ("memory".to_string(), Quantity::from("16Gi")),
        ("pods".to_string(), Quantity::from("110")),
    ];
    Node {
        metadata: meta,
        status: Some(NodeStatus { allocatable: alloc.into(), ..Default::default() }),
        ..Default::default()
    }
}

pub fn pod(name: &str, cpu: &str, app: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name).with_label("app", app),
        spec: PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: "img:1".into(),
                resources: Some(ResourceRequirements {
                    requests: [("cpu".to_string(), Quantity::from(cpu))].into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Stands in for node agents: removes pods whose graceful deletion began.
pub async fn finish_graceful_deletions(store: Arc<MemStore>) {
    use futures::StreamExt;
    let pods: Api<Pod> = Api::all(store.clone());
    let Ok(mut events) = pods.watch(&Default::default(), "").await else { return };
    while let Some(Ok(event)) = events.next().await {
        let orch_core::api::WatchEvent::Modified(p) = event else { continue };
        if p.metadata.is_deleting() {
            let api: Api<Pod> = Api::namespaced(store.clone(), &p.metadata.namespace);
            let force = orch_core::api::DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            };
            let _ = api.delete(&p.metadata.name, &force).await;
        }
    }
}

pub struct Harness {
    pub store: Arc<MemStore>,
    pub stop: CancellationToken,
    pub waiting: orch_sched::framework::WaitingPods,
    pub nominator: orch_sched::nominator::Nominator,
    /// The registry the scheduler's metrics are registered with.
    pub metrics: prometheus_client::registry::Registry,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Harness {
    pub async fn start(nodes: Vec<Node>, registry: Registry, profile: ProfileConfig) -> Harness {
        let store = Arc::new(MemStore::new());
        let api: Api<Node> = Api::all(store.clone());
        for n in nodes {
            api.create(&n).await.unwrap();
        }
        let factory = Arc::new(InformerFactory::new(store.clone()));
        let mut metrics = prometheus_client::registry::Registry::default();
        let config = SchedulerConfig {
            metrics: Some(Arc::new(SchedulerMetrics::register(&mut metrics))),
            profiles: vec![profile],
            queue: orch_sched::queue::QueueConfig {
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
                ..Default::default()
            },
            ..Default::default()
        };
        let scheduler = Scheduler::new(factory.clone(), &registry, config).unwrap();
        tokio::spawn(finish_graceful_deletions(store.clone()));
        let waiting = scheduler.framework("default-scheduler").unwrap().waiting_pods().clone();
        let nominator = scheduler.nominator().clone();
        let stop = CancellationToken::new();
        tokio::spawn(scheduler.run(stop.clone()));
        let s = stop.clone();
        tokio::spawn(async move {
            s.cancelled().await;
            factory.shutdown();
        });
        Harness { store, stop, waiting, nominator, metrics }
    }

    /// The scheduler's metrics as a Prometheus server would read them.
    pub fn scrape(&self) -> prometheus_parse::Scrape {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.metrics).unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    /// The value of the sample of `metric` with these labels (0 if none).
    pub fn sample(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let scrape = self.scrape();
        let found = scrape.samples.iter().find(|s| {
            s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        });
        match found.map(|s| &s.value) {
            Some(prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v)) => *v,
            Some(prometheus_parse::Value::Untyped(v)) => *v,
            Some(other) => panic!("{metric}: {other:?}"),
            None => 0.0,
        }
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.store.clone(), "default")
    }

    pub async fn placement(&self) -> BTreeMap<String, Option<String>> {
        self.pods()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| (p.metadata.name, p.spec.node_name))
            .collect()
    }

    pub async fn bound(&self, n: usize) {
        wait_for(format!("{n} pods bound"), DEADLINE, || async {
            let placement = self.placement().await;
            let bound = placement.values().filter(|v| v.is_some()).count();
            if bound == n {
                Ok(())
            } else {
                Err(format!("{placement:?}"))
            }
        })
        .await;
    }

    /// The messages of the Events with this reason about the pod `name`.
    pub async fn pod_events(&self, name: &str, reason: &str) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.store.clone(), "default");
        let list =
            events.list(&ListParams::default().fields(&format!("reason={reason}"))).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| e.involved_object.name == name)
            .filter_map(|e| e.message)
            .collect()
    }

    pub async fn events(&self, reason: &str) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.store.clone(), "default");
        let list =
            events.list(&ListParams::default().fields(&format!("reason={reason}"))).await.unwrap();
        list.items.into_iter().filter_map(|e| e.message).collect()
    }

    /// Waits until an Event with this reason has a message that `wanted`
    /// accepts; the timeout names the messages seen.
    pub async fn event_where(&self, what: &str, reason: &str, wanted: impl Fn(&str) -> bool) {
        wait_for(what, DEADLINE, || async {
            let messages = self.events(reason).await;
            if messages.iter().any(|m| wanted(m)) {
                Ok(())
            } else {
                Err(format!("{reason} events: {messages:?}"))
            }
        })
        .await;
    }
}
