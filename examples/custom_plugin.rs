//! A custom scheduler plugin, registered into the default profile without
//! forking anything (`cargo run --example custom_plugin`): `CheapNodes`
//! filters out nodes above a maximum hourly cost (from its args) and scores
//! cheaper nodes higher, using the `example.com/hourly-cost-cents` label.

use std::sync::Arc;
use std::time::Duration;

use orch_core::kinds::node::NodeStatus;
use orch_core::{Api, Node, ObjectMeta, Pod, Quantity};
use orch_sched::cache::{NodeInfo, PodInfo};
use orch_sched::cycle_state::CycleState;
use orch_sched::framework::config::{PluginConfig, PluginRef, ProfileConfig};
use orch_sched::framework::{
    FilterPlugin, NodeScore, PluginSet, Registry, ScorePlugin, MAX_NODE_SCORE,
};
use orch_sched::scheduler::{Scheduler, SchedulerConfig};
use orch_sched::status::Status;

const COST: &str = "example.com/hourly-cost-cents";

struct CheapNodes {
    max_cents: i64,
}

fn cost(node: &NodeInfo) -> Option<i64> {
    node.label(COST)?.parse().ok()
}

impl FilterPlugin for CheapNodes {
    fn filter(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
        match cost(node) {
            Some(c) if c > self.max_cents => {
                Status::unresolvable("node(s) cost more than the budget")
            }
            _ => Status::success(),
        }
    }
}

impl ScorePlugin for CheapNodes {
    fn score(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(self.max_cents - cost(node).unwrap_or(self.max_cents))
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [NodeScore]) -> Status {
        let max = scores.iter().map(|s| s.score).max().unwrap_or(0).max(1);
        scores.iter_mut().for_each(|s| s.score = s.score * MAX_NODE_SCORE / max);
        Status::success()
    }
}

fn node(name: &str, cents: u32) -> Node {
    let alloc = [
        ("cpu".to_string(), Quantity::from("4")),
        ("memory".to_string(), Quantity::from("8Gi")),
        ("pods".to_string(), Quantity::from("110")),
    ];
    let status = NodeStatus { allocatable: alloc.into(), ..Default::default() };
    Node {
        metadata: ObjectMeta::named(name).with_label(COST, cents.to_string()),
        status: Some(status),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::default();
    registry.register("CheapNodes", |args, _| {
        let max_cents = args.get("maxCents").and_then(|v| v.as_i64()).unwrap_or(i64::MAX);
        let plugin = Arc::new(CheapNodes { max_cents });
        Ok(PluginSet { filter: Some(plugin.clone()), score: Some(plugin), ..Default::default() })
    })?;
    let mut profile = ProfileConfig::default();
    profile.plugins.multi_point.enabled.push(PluginRef::weighted("CheapNodes", 10));
    profile.plugin_config.push(PluginConfig {
        name: "CheapNodes".into(),
        args: serde_json::json!({"maxCents": 50}),
    });

    let store = Arc::new(orch_store::MemStore::new());
    for (name, cents) in [("spot-1", 8), ("standard-1", 30), ("premium-1", 90)] {
        Api::<Node>::all(store.clone()).create(&node(name, cents)).await?;
    }
    let factory = Arc::new(orch_core::controller::InformerFactory::new(store.clone()));
    let config = SchedulerConfig { profiles: vec![profile], ..Default::default() };
    let scheduler = Scheduler::new(factory, &registry, config)?;
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(scheduler.run(stop.clone()));

    let pods: Api<Pod> = Api::namespaced(store, "default");
    let mut web = Pod { metadata: ObjectMeta::named("web-0"), ..Default::default() };
    web.spec.containers.push(orch_core::kinds::pod::Container {
        name: "web".into(),
        image: "web:1".into(),
        ..Default::default()
    });
    pods.create(&web).await?;
    for _ in 0..500 {
        if let Some(node) = pods.get("web-0").await?.spec.node_name {
            println!("web-0 was placed on {node}, the cheapest node within budget");
            assert_eq!(node, "spot-1");
            stop.cancel();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("web-0 was not scheduled in time".into())
}
