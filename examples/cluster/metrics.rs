//! `--metrics-addr`: every component's metrics in one registry, served as
//! Prometheus' text format (OpenMetrics) on `GET /metrics` with axum —
//! the scheduler's (`scheduler_*`), the controllers' work queues
//! (`workqueue_*`), the node agents' (`kubelet_*`, labelled by node) and,
//! on a RaftStore, its members' (`etcd_*`, labelled by member).

use std::net::SocketAddr;
use std::sync::Arc;

use orch_core::controller::ControllerMetrics;
use orch_runtime::agent::NodeAgentMetrics;
use orch_sched::metrics::SchedulerMetrics;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// The metrics of the cluster's components, registered in one registry.
pub struct ClusterMetrics {
    pub registry: Registry,
    pub controllers: Arc<ControllerMetrics>,
    pub scheduler: Arc<SchedulerMetrics>,
    pub agents: Arc<NodeAgentMetrics>,
}

impl ClusterMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let controllers = Arc::new(ControllerMetrics::register(&mut registry));
        let scheduler = Arc::new(SchedulerMetrics::register(&mut registry));
        let agents = Arc::new(NodeAgentMetrics::register(&mut registry));
        ClusterMetrics { registry, controllers, scheduler, agents }
    }
}

/// The content type of prometheus-client's text encoding.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` — or, if it is taken (another cluster runs beside this
/// one), a free port on the same address, with a note — and serves
/// `registry` on `/metrics` until `stop`. Returns the address it serves on.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    stop: CancellationToken,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), String> {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && addr.port() != 0 => {
            let any = SocketAddr::new(addr.ip(), 0);
            let l = tokio::net::TcpListener::bind(any)
                .await
                .map_err(|e| format!("--metrics-addr {any}: {e}"))?;
            eprintln!("note: --metrics-addr {addr} is in use; serving metrics on another port");
            l
        }
        Err(e) => return Err(format!("--metrics-addr {addr}: {e}")),
    };
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move {
                let text = orch_core::controller::metrics::encode_text(&registry);
                ([(axum::http::header::CONTENT_TYPE, OPENMETRICS)], text)
            }
        }),
    );
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = served.await {
            eprintln!("metrics: {e}");
        }
    });
    Ok((task, local))
}
