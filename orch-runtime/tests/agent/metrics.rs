//! The agent's kubelet metrics, scraped and parsed as Prometheus would.

use std::sync::Arc;

use orch_core::kinds::pod::RestartPolicy;
use orch_core::testing::wait_for;
use orch_runtime::agent::NodeAgentMetrics;
use prometheus_client::registry::Registry;
use prometheus_parse::{Scrape, Value};

use crate::{agent_config, bound_pod, new_runtime, Backend, Node1, DEADLINE};

fn scrape(registry: &Registry) -> Scrape {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of `metric` with `labels` (node-1's), `None` if not scraped.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let s = scrape.samples.iter().find(|s| {
        s.metric == metric
            && s.labels.get("node") == Some("node-1")
            && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
    })?;
    match &s.value {
        Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => Some(*v),
        Value::Histogram(b) => b.last().map(|b| b.count),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_pods_containers_and_pod_start_latency_are_reported() {
    let mut registry = Registry::default();
    let metrics = Arc::new(NodeAgentMetrics::register(&mut registry));
    let dir = tempfile::tempdir().unwrap();
    let runtime = new_runtime(dir.path());
    let config = orch_runtime::agent::NodeAgentConfig { metrics: Some(metrics), ..agent_config() };
    let n = Node1::with(Arc::new(runtime.clone()), Backend::Process(runtime), dir, config);
    // One container keeps running, one exits and stays exited (Never).
    let mut p = bound_pod("p", vec![n.sh("a", "sleep 60"), n.sh("b", "exit 0")]);
    p.spec.restart_policy = Some(RestartPolicy::Never);
    n.pods().create(&p).await.unwrap();
    n.pods().create(&bound_pod("q", vec![n.sh("c", "sleep 60")])).await.unwrap();
    wait_for("two running pods and their containers in the metrics", DEADLINE, || async {
        let s = scrape(&registry);
        let pods = value(&s, "kubelet_running_pods", &[]);
        let running = value(&s, "kubelet_running_containers", &[("container_state", "running")]);
        let exited = value(&s, "kubelet_running_containers", &[("container_state", "exited")]);
        let started = value(&s, "kubelet_pod_start_duration_seconds_count", &[]);
        if (pods, running, started) == (Some(2.0), Some(2.0), Some(2.0)) && exited == Some(1.0) {
            Ok(())
        } else {
            Err(format!(
                "pods {pods:?}, running {running:?}, exited {exited:?}, started {started:?}"
            ))
        }
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}
