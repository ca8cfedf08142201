//! `kubectl logs` through the cluster's API server: the node agents'
//! runtimes in this process serve the logs of the pods on their nodes (as
//! kube-apiserver asks the pod's kubelet).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use futures::stream::{BoxStream, StreamExt};
use orch_apiserver::status::Status;
use orch_apiserver::{LogRequest, PodLogs};
use orch_runtime::agent::logs::{container_logs, LogOptions};
use orch_runtime::runtime::Runtime;
use serde_json::Value;

/// Each node's runtime, by node name.
pub struct NodeLogs {
    pub runtimes: BTreeMap<String, Arc<dyn Runtime>>,
}

#[async_trait]
impl PodLogs for NodeLogs {
    async fn logs(
        &self,
        pod: &Value,
        request: &LogRequest,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, Status> {
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
        let Some(runtime) = self.runtimes.get(node) else {
            return Err(Status::bad_request(format!("pod {name} does not have a host assigned")));
        };
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
        let options = LogOptions {
            follow: request.follow,
            previous: request.previous,
            tail_lines: request.tail_lines,
            timestamps: request.timestamps,
        };
        let container = &request.container;
        match container_logs(runtime.clone(), uid, container, &options).await {
            Ok(chunks) => Ok(chunks.map(|c| c.map_err(std::io::Error::other)).boxed()),
            Err(orch_runtime::Error::NotFound { .. }) => {
                let message = if request.previous {
                    format!("previous terminated container {container:?} in pod {name:?} not found")
                } else {
                    format!("container {container:?} in pod {name:?} is waiting to start")
                };
                Err(Status { code: 400, reason: "BadRequest", message, details: None })
            }
            Err(e) => Err(Status::internal(e.to_string())),
        }
    }
}
