//! The watcher: list, then watch from the list's resourceVersion; relist
//! when the watch history is gone; reopen a dropped watch where it stopped;
//! back off after errors. Kubernetes' reflector loop, as a stream.

use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};

use crate::api::{Api, ListParams, WatchEvent, WatchParams};
use crate::resource::Object;
use crate::{Error, Result};

/// What a watcher reports.
#[derive(Clone, Debug, PartialEq)]
pub enum WatcherEvent<K> {
    /// A fresh list: the complete current set, replacing anything before.
    Restarted(Vec<K>),
    /// An object was created or changed.
    Applied(K),
    /// An object was deleted (its last state).
    Deleted(K),
}

/// Settings of a [`watcher`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherConfig {
    /// Only objects matching this label selector.
    pub label_selector: Option<String>,
    /// Only objects matching this field selector.
    pub field_selector: Option<String>,
    /// List in pages of this many objects; `None` lists in one go.
    pub page_size: Option<u32>,
    /// First delay after an error; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Largest delay between retries.
    pub max_backoff: Duration,
}

impl Default for WatcherConfig {
    /// No selectors, pages of 500, backoff 100 ms doubling to 10 s.
    fn default() -> Self {
        WatcherConfig {
            label_selector: None,
            field_selector: None,
            page_size: Some(500),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

enum Phase<K> {
    List,
    Watch(String),
    Watching(String, BoxStream<'static, Result<WatchEvent<K>>>),
}

struct State<K> {
    api: Api<K>,
    config: WatcherConfig,
    phase: Phase<K>,
    backoff: Option<Duration>,
}

impl<K: Object> State<K> {
    fn failed(&mut self) {
        let next = match self.backoff {
            None => self.config.min_backoff,
            Some(d) => (d * 2).min(self.config.max_backoff),
        };
        self.backoff = Some(next);
    }

    async fn list(api: &Api<K>, config: &WatcherConfig) -> Result<(Vec<K>, String)> {
        let mut params = ListParams {
            label_selector: config.label_selector.clone(),
            field_selector: config.field_selector.clone(),
            limit: config.page_size,
            continue_token: None,
        };
        let mut items = Vec::new();
        loop {
            let page = api.list(&params).await?;
            items.extend(page.items);
            match page.continue_token {
                Some(token) => params.continue_token = Some(token),
                None => return Ok((items, page.resource_version)),
            }
        }
    }

    async fn step(mut self) -> (Result<WatcherEvent<K>>, Self) {
        loop {
            if let Some(delay) = self.backoff {
                if !matches!(self.phase, Phase::Watching(..)) {
                    tokio::time::sleep(delay).await;
                }
            }
            match std::mem::replace(&mut self.phase, Phase::List) {
                Phase::List => match Self::list(&self.api, &self.config).await {
                    Ok((items, rv)) => {
                        self.backoff = None;
                        self.phase = Phase::Watch(rv);
                        return (Ok(WatcherEvent::Restarted(items)), self);
                    }
                    Err(e) => {
                        self.failed();
                        return (Err(e), self);
                    }
                },
                Phase::Watch(rv) => {
                    let params = WatchParams {
                        label_selector: self.config.label_selector.clone(),
                        field_selector: self.config.field_selector.clone(),
                        bookmarks: true,
                    };
                    match self.api.watch(&params, &rv).await {
                        Ok(stream) => self.phase = Phase::Watching(rv, stream),
                        Err(e) => {
                            self.failed();
                            self.phase = if e.is_gone() { Phase::List } else { Phase::Watch(rv) };
                            return (Err(e), self);
                        }
                    }
                }
                Phase::Watching(rv, mut stream) => match stream.next().await {
                    Some(Ok(event)) => {
                        self.backoff = None;
                        let (next_rv, out) = match event {
                            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                                (o.meta().resource_version.clone(), Some(WatcherEvent::Applied(o)))
                            }
                            WatchEvent::Deleted(o) => {
                                (o.meta().resource_version.clone(), Some(WatcherEvent::Deleted(o)))
                            }
                            WatchEvent::Bookmark { resource_version } => (resource_version, None),
                        };
                        self.phase = Phase::Watching(next_rv, stream);
                        if let Some(out) = out {
                            return (Ok(out), self);
                        }
                    }
                    Some(Err(e)) if e.is_gone() => {
                        // The history is gone: start over from a fresh list.
                        self.phase = Phase::List;
                    }
                    Some(Err(e)) => {
                        self.phase = Phase::Watching(rv, stream);
                        return (Err(e), self);
                    }
                    // The watch ended (the store restarted): reopen it.
                    None => {
                        self.failed();
                        self.phase = Phase::Watch(rv);
                    }
                },
            }
        }
    }
}

/// Lists and watches the objects of `api`, forever: the stream never ends.
/// Errors are yielded and retried with backoff; a compacted history leads
/// to a fresh list ([`WatcherEvent::Restarted`]).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use futures::StreamExt;
/// use orch_core::controller::{watcher, WatcherConfig, WatcherEvent};
/// use orch_core::{Api, ConfigMap};
///
/// let api: Api<ConfigMap> = Api::namespaced(Arc::new(orch_store::MemStore::new()), "default");
/// let mut events = watcher(api, WatcherConfig::default());
/// assert!(matches!(events.next().await, Some(Ok(WatcherEvent::Restarted(items))) if items.is_empty()));
/// # });
/// ```
pub fn watcher<K: Object>(
    api: Api<K>,
    config: WatcherConfig,
) -> BoxStream<'static, Result<WatcherEvent<K>, Error>> {
    let state = State { api, config, phase: Phase::List, backoff: None };
    stream::unfold(state, |state| async move {
        let (item, state) = state.step().await;
        Some((item, state))
    })
    .boxed()
}
