//! Typed watches: [`Api::watch`], store events turned into Kubernetes watch
//! events.

use futures::stream::{self, BoxStream, StreamExt};

use super::{Api, WatchParams};
use crate::resource::Object;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{EventType, KeyRange, KeyValue, WatchRequest};
use crate::{Error, Result};

/// One change seen by [`Api::watch`], as Kubernetes' watch event types.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent<K> {
    /// The object was created, or started matching the selectors.
    Added(K),
    /// The object changed and still matches.
    Modified(K),
    /// The object was deleted (its last state, with the deletion's
    /// resourceVersion), or stopped matching the selectors (its new state).
    Deleted(K),
    /// Every change up to this resourceVersion has been delivered.
    Bookmark {
        /// The resourceVersion to resume from.
        resource_version: String,
    },
}

struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches<K: Object>(&self, obj: &K) -> bool {
        self.labels.matches(&obj.meta().labels) && self.fields.matches(obj)
    }
}

impl<K: Object> Api<K> {
    /// Watches objects from just after `resource_version` (`""` or `"0"`:
    /// from now). Follow a [`list`](Self::list) with a watch from the list's
    /// `resource_version` to see every later change exactly once.
    ///
    /// The stream yields [`WatchEvent`]s; it ends with [`Error::Gone`] when
    /// the history it needs was compacted (relist, then watch again), and
    /// yields [`Error::Decode`] for a stored value that does not fit `K`
    /// without ending.
    ///
    /// Errors: [`Error::Selector`]; [`Error::Invalid`] for a resourceVersion
    /// that is not a number.
    pub async fn watch(
        &self,
        params: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchEvent<K>>>> {
        if let Some(remote) = self.remote() {
            return self.remote_watch(remote, params, resource_version).await;
        }
        watch(self.clone(), params, resource_version).await
    }
}

async fn watch<K: Object>(
    api: Api<K>,
    params: &WatchParams,
    resource_version: &str,
) -> Result<BoxStream<'static, Result<WatchEvent<K>>>> {
    let filter = Filter {
        labels: params.label_selector.as_deref().unwrap_or("").parse()?,
        fields: params.field_selector.as_deref().unwrap_or("").parse()?,
    };
    let start = match resource_version {
        "" | "0" => 0,
        rv => {
            rv.parse::<i64>().map_err(|_| Error::Invalid {
                object: api.resource.plural.clone(),
                field: "resourceVersion".into(),
                reason: format!("{rv:?} is not a resourceVersion this store issued"),
            })? + 1
        }
    };
    let prefix = api.resource.key_prefix(api.namespace.as_deref());
    let mut req = WatchRequest::new(KeyRange::prefix(prefix), start).with_prev_kv();
    req.progress_notify = params.bookmarks;
    let events = api.store.watch(req).await?;
    let plural = api.resource.plural.clone();
    let stream = events.flat_map(move |batch| {
        let out: Vec<Result<WatchEvent<K>>> = match batch {
            Err(Error::Compacted { compact_revision, .. }) => vec![Err(Error::Gone {
                resource: plural.clone(),
                resource_version: resource_version_before(start),
                compact_revision,
            })],
            Err(e) => vec![Err(e)],
            Ok(batch) if batch.progress_notify && batch.events.is_empty() => {
                vec![Ok(WatchEvent::Bookmark {
                    resource_version: batch.header.revision.to_string(),
                })]
            }
            Ok(batch) => batch
                .events
                .iter()
                .filter_map(|e| convert(&api, &filter, e.kind, &e.kv, e.prev_kv.as_ref()))
                .collect(),
        };
        stream::iter(out)
    });
    Ok(stream.boxed())
}

fn resource_version_before(start: i64) -> String {
    if start == 0 {
        "0".into()
    } else {
        (start - 1).to_string()
    }
}

fn decode_prev<K: Object>(api: &Api<K>, prev: Option<&KeyValue>) -> Option<Result<K>> {
    prev.map(|p| api.decode(p))
}

/// One store event as a watch event, or `None` if the selectors hide it.
fn convert<K: Object>(
    api: &Api<K>,
    filter: &Filter,
    kind: EventType,
    kv: &KeyValue,
    prev: Option<&KeyValue>,
) -> Option<Result<WatchEvent<K>>> {
    let prev = match decode_prev(api, prev).transpose() {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    let was = prev.as_ref().is_some_and(|p| filter.matches(p));
    match kind {
        EventType::Delete => {
            let mut last = prev?;
            if !was {
                return None;
            }
            last.meta_mut().resource_version = kv.mod_revision.to_string();
            Some(Ok(WatchEvent::Deleted(last)))
        }
        EventType::Put => {
            let obj = match api.decode(kv) {
                Ok(o) => o,
                Err(e) => return Some(Err(e)),
            };
            let is = filter.matches(&obj);
            match (was, is) {
                (false, true) => Some(Ok(WatchEvent::Added(obj))),
                (true, true) => Some(Ok(WatchEvent::Modified(obj))),
                (true, false) => Some(Ok(WatchEvent::Deleted(obj))),
                (false, false) => None,
            }
        }
    }
}
