//! The `log` subresource of Pods (`GET …/pods/{name}/log`), what `kubectl
//! logs [-f] [--tail N] [-c C] [--previous] [--timestamps]` reads. Where
//! kube-apiserver asks the pod's kubelet, this server asks a [`PodLogs`]
//! the embedder provides (the node agents' runtimes); the answer is
//! `text/plain`, streamed while `follow` lasts.

use std::collections::BTreeMap;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::stream::{BoxStream, StreamExt};
use serde_json::Value;

use crate::status::Status;

/// What a log request asks for (core/v1 `PodLogOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogRequest {
    /// The container (the pod's only one when the request names none).
    pub container: String,
    /// Keep streaming until the container exits.
    pub follow: bool,
    /// The previous attempt's logs.
    pub previous: bool,
    /// Only the last this many lines.
    pub tail_lines: Option<usize>,
    /// Prefix lines with their RFC 3339 timestamps.
    pub timestamps: bool,
}

/// Where pods' logs come from: the node agent of the pod's node.
#[async_trait]
pub trait PodLogs: Send + Sync {
    /// The logs of `request.container` of `pod` (its JSON, bound to a
    /// node), as text chunks.
    ///
    /// Errors: a [`Status`] (404 when the container has not run, 400 for
    /// a pod on no node).
    async fn logs(
        &self,
        pod: &Value,
        request: &LogRequest,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, Status>;
}

/// The request's options from the query, the container defaulted as
/// kube-apiserver does.
///
/// Errors: 400 for a pod of several containers and no `container`, an
/// unknown container, or a bad `tailLines`.
pub(crate) fn request(pod: &Value, query: &BTreeMap<String, String>) -> Result<LogRequest, Status> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    let container = match query.get("container").filter(|c| !c.is_empty()) {
        Some(c) if containers.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            return Err(Status::bad_request(format!("container {c} is not valid for pod {name}")))
        }
        None => match containers.as_slice() {
            [only] => (*only).to_owned(),
            _ => {
                return Err(Status::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                )))
            }
        },
    };
    let flag = |k: &str| query.get(k).is_some_and(|v| v == "true" || v == "1");
    let tail_lines = match query.get("tailLines") {
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| Status::bad_request(format!("tailLines {n:?}: a number of lines")))?,
        ),
        None => None,
    };
    Ok(LogRequest {
        container,
        follow: flag("follow"),
        previous: flag("previous"),
        tail_lines,
        timestamps: flag("timestamps"),
    })
}

/// The streamed `text/plain` answer.
pub(crate) fn response(chunks: BoxStream<'static, std::io::Result<Bytes>>) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(chunks.boxed()))
        .unwrap_or_else(|_| Status::internal("log response").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_defaulted_or_must_be_named() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "web"}]}});
        let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let r = request(&one, &q(&[("follow", "true"), ("tailLines", "5")])).unwrap();
        assert_eq!((r.container.as_str(), r.follow, r.tail_lines), ("web", true, Some(5)));
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let e = request(&two, &q(&[])).unwrap_err();
        assert_eq!(e.message, "a container name must be specified for pod p, choose one of: [a b]");
        assert_eq!(request(&two, &q(&[("container", "b")])).unwrap().container, "b");
        assert_eq!(request(&two, &q(&[("container", "c")])).unwrap_err().code, 400);
        assert_eq!(request(&one, &q(&[("tailLines", "x")])).unwrap_err().code, 400);
    }
}
