//! etcd's `Watch` service: many watches multiplexed on one bidirectional
//! stream, each identified by its `watch_id`.
//!
//! As etcd: a create is answered with `created: true` before any of its
//! events; a watch whose history is compacted is answered with
//! `canceled: true` and `compact_revision`; a cancel is answered with
//! `canceled: true`; a progress request is answered with the current
//! revision and `watch_id` -1 (it concerns every watch on the stream).

use std::collections::HashMap;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use orch_core::store::{WatchFilter, WatchRequest};
use orch_core::Error;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::proto::{self, watch_request::RequestUnion, watch_server::Watch};
use super::Api;

type WatchOut = Pin<Box<dyn Stream<Item = Result<proto::WatchResponse, Status>> + Send>>;
type Sender = mpsc::Sender<Result<proto::WatchResponse, Status>>;

/// Responses buffered per stream before a slow client holds up its
/// watches (the store's watchers then fall back to history; writers are
/// never held up).
const STREAM_BUFFER: usize = 256;

#[tonic::async_trait]
impl Watch for Api {
    type WatchStream = WatchOut;

    async fn watch(
        &self,
        req: Request<Streaming<proto::WatchRequest>>,
    ) -> Result<Response<WatchOut>, Status> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let session = Session { api: self.clone(), tx, watches: HashMap::new(), next_id: 0 };
        tokio::spawn(session.run(req.into_inner()));
        // The stream ends when the server stops; the session sees its
        // sender closed and ends its watches.
        Ok(Response::new(Box::pin(ReceiverStream::new(rx).take_until(self.stopped()))))
    }
}

/// One client's watch stream: its watches, each forwarded by a task.
struct Session {
    api: Api,
    tx: Sender,
    watches: HashMap<i64, JoinHandle<()>>,
    next_id: i64,
}

impl Session {
    async fn run(mut self, mut requests: Streaming<proto::WatchRequest>) {
        loop {
            let next = tokio::select! {
                r = requests.next() => r,
                () = self.tx.closed() => None,
            };
            let Some(Ok(request)) = next else { break };
            let sent = match request.request_union {
                Some(RequestUnion::CreateRequest(c)) => self.create(c).await,
                Some(RequestUnion::CancelRequest(c)) => self.cancel(c.watch_id).await,
                Some(RequestUnion::ProgressRequest(_)) => self.progress().await,
                None => true,
            };
            if !sent {
                break;
            }
        }
        for (_, task) in self.watches.drain() {
            task.abort();
        }
    }

    fn response(&self, revision: i64, watch_id: i64) -> proto::WatchResponse {
        proto::WatchResponse { header: self.api.header(revision), watch_id, ..Default::default() }
    }

    /// Starts a watch. Returns false once the client is gone.
    async fn create(&mut self, c: proto::WatchCreateRequest) -> bool {
        self.watches.retain(|_, task| !task.is_finished());
        let revision = self.api.revision().await.unwrap_or(0);
        let id = if c.watch_id > 0 {
            if self.watches.contains_key(&c.watch_id) {
                let mut r = self.response(revision, c.watch_id);
                r.canceled = true;
                r.cancel_reason = "etcdserver: duplicate watch ID".into();
                return self.tx.send(Ok(r)).await.is_ok();
            }
            c.watch_id
        } else {
            while self.watches.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id
        };
        let filters = c
            .filters
            .iter()
            .filter_map(|f| match proto::watch_create_request::FilterType::try_from(*f) {
                Ok(proto::watch_create_request::FilterType::Noput) => Some(WatchFilter::NoPut),
                Ok(proto::watch_create_request::FilterType::Nodelete) => {
                    Some(WatchFilter::NoDelete)
                }
                Err(_) => None,
            })
            .collect();
        let req = WatchRequest {
            range: convert::key_range(c.key, c.range_end),
            start_revision: c.start_revision,
            prev_kv: c.prev_kv,
            progress_notify: c.progress_notify,
            filters,
        };
        let started = self.api.store.watch(req).await;
        let mut created = self.response(revision, id);
        created.created = true;
        if self.tx.send(Ok(created)).await.is_err() {
            return false;
        }
        match started {
            Ok(events) => {
                let task = tokio::spawn(forward(self.api.clone(), id, events, self.tx.clone()));
                self.watches.insert(id, task);
                true
            }
            Err(e) => self.tx.send(Ok(canceled(&self.api, id, revision, e))).await.is_ok(),
        }
    }

    async fn cancel(&mut self, id: i64) -> bool {
        if let Some(task) = self.watches.remove(&id) {
            task.abort();
        }
        let revision = self.api.revision().await.unwrap_or(0);
        let mut r = self.response(revision, id);
        r.canceled = true;
        self.tx.send(Ok(r)).await.is_ok()
    }

    async fn progress(&mut self) -> bool {
        let revision = self.api.revision().await.unwrap_or(0);
        self.tx.send(Ok(self.response(revision, -1))).await.is_ok()
    }
}

/// The response that ends watch `id` because of `e`.
fn canceled(api: &Api, id: i64, revision: i64, e: Error) -> proto::WatchResponse {
    let mut r =
        proto::WatchResponse { header: api.header(revision), watch_id: id, ..Default::default() };
    r.canceled = true;
    if let Error::Compacted { compact_revision, .. } = e {
        r.compact_revision = compact_revision.max(1);
    }
    r.cancel_reason = convert::status(e).message().to_string();
    r
}

/// Sends one watch's responses to the client until the watch ends or the
/// client goes away.
async fn forward(api: Api, id: i64, mut events: orch_core::store::WatchStream, tx: Sender) {
    while let Some(item) = events.next().await {
        let response = match item {
            Ok(batch) => proto::WatchResponse {
                header: api.header(batch.header.revision),
                watch_id: id,
                events: batch.events.into_iter().map(convert::event).collect(),
                ..Default::default()
            },
            Err(e) => {
                let revision = api.revision().await.unwrap_or(0);
                let _ = tx.send(Ok(canceled(&api, id, revision, e))).await;
                return;
            }
        };
        if tx.send(Ok(response)).await.is_err() {
            return;
        }
    }
}
