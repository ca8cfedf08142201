//! Reads: [`Api::get`], [`Api::get_opt`] and [`Api::list`], with the
//! continue tokens of paged lists.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;

use super::{Api, ListParams};
use crate::meta::ObjectList;
use crate::resource::Object;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{KeyRange, RangeRequest};
use crate::{Error, Result};

impl<K: Object> Api<K> {
    /// Reads one object by name.
    ///
    /// Errors: [`Error::NotFound`]; [`Error::Decode`] if the stored value
    /// does not fit `K`.
    pub async fn get(&self, name: &str) -> Result<K> {
        if let Some(remote) = self.remote() {
            return self.remote_get(remote, name).await;
        }
        let ns = self.request_namespace();
        let kv = self.read_existing(ns, name).await?;
        self.decode(&kv)
    }

    /// Reads one object by name, `None` if it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        if let Some(remote) = self.remote() {
            return match self.remote_get(remote, name).await {
                Ok(obj) => Ok(Some(obj)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            };
        }
        match self.read(self.request_namespace(), name).await? {
            Some(kv) => self.decode(&kv).map(Some),
            None => Ok(None),
        }
    }

    /// Lists objects, optionally filtered by label and field selectors and
    /// paged. All pages of one list are read at the same revision; a
    /// `continue_token` whose revision has been compacted fails with
    /// [`Error::Gone`].
    ///
    /// Errors: [`Error::Selector`] for a bad selector or a field this kind
    /// does not support; [`Error::Invalid`] (field `continue`) for a token
    /// this store did not hand out for this list — one from another
    /// namespace's or kind's list included, as kube-apiserver refuses them.
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>> {
        if let Some(remote) = self.remote() {
            return self.remote_list(remote, params).await;
        }
        let labels: LabelSelector = params.label_selector.as_deref().unwrap_or("").parse()?;
        let fields: FieldSelector = params.field_selector.as_deref().unwrap_or("").parse()?;
        let prefix = self.resource.key_prefix(self.namespace.as_deref());
        let end = crate::store::prefix_end(prefix.as_bytes());
        let (mut revision, mut start) = match &params.continue_token {
            Some(token) => decode_continue(token, prefix.as_bytes())?,
            None => (0, Bytes::from(prefix.clone())),
        };
        let limit = params.limit.map(|l| l.max(1) as usize);
        let filtering = !labels.is_empty() || !fields.is_empty();
        let mut items = Vec::new();
        let mut continue_token = None;
        loop {
            let page = match (limit, filtering) {
                (None, _) => 0,
                (Some(l), false) => l - items.len(),
                (Some(l), true) => (l - items.len()).max(64),
            };
            let resp = self
                .store
                .range(RangeRequest {
                    range: KeyRange::between(start.clone(), end.clone()),
                    revision,
                    limit: page as i64,
                    ..Default::default()
                })
                .await
                .map_err(|e| match e {
                    Error::Compacted { compact_revision, .. } => Error::Gone {
                        resource: self.resource.plural.clone(),
                        resource_version: revision.to_string(),
                        compact_revision,
                    },
                    other => other,
                })?;
            if revision == 0 {
                revision = resp.header.revision;
            }
            let mut last_key = None;
            for kv in &resp.kvs {
                last_key = Some(kv.key.clone());
                let obj = self.decode(kv)?;
                if !fields.is_empty() {
                    fields.check_supported(&obj)?;
                }
                if labels.matches(&obj.meta().labels) && fields.matches(&obj) {
                    items.push(obj);
                    if limit.is_some_and(|l| items.len() >= l) {
                        break;
                    }
                }
            }
            let stopped_early = last_key.as_ref() != resp.kvs.last().map(|kv| &kv.key);
            let more = resp.more || stopped_early;
            if more {
                if let Some(last) = last_key {
                    let mut next = last.to_vec();
                    next.push(0);
                    start = Bytes::from(next);
                }
            }
            let full = limit.is_some_and(|l| items.len() >= l);
            if !more {
                break;
            }
            if full {
                continue_token = Some(encode_continue(revision, &start));
                break;
            }
        }
        Ok(ObjectList { items, resource_version: revision.to_string(), continue_token })
    }
}

fn encode_continue(revision: i64, start: &[u8]) -> String {
    let mut raw = revision.to_string().into_bytes();
    raw.push(b'\n');
    raw.extend_from_slice(start);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The revision and start key of a continue token, which must lie inside
/// `prefix` (the list's keys): a token can never read past its list.
fn decode_continue(token: &str, prefix: &[u8]) -> Result<(i64, Bytes)> {
    let invalid = |why: &str| Error::Invalid {
        object: "list".into(),
        field: "continue".into(),
        reason: format!("{token:?} is not a continue token for this list: {why}"),
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid("not base64url"))?;
    let split = raw.iter().position(|b| *b == b'\n').ok_or_else(|| invalid("no revision"))?;
    let revision = std::str::from_utf8(&raw[..split])
        .ok()
        .and_then(|r| r.parse::<i64>().ok())
        .filter(|r| *r > 0)
        .ok_or_else(|| invalid("no revision"))?;
    let start = &raw[split + 1..];
    if !start.starts_with(prefix) {
        return Err(invalid("its key lies outside the list"));
    }
    Ok((revision, Bytes::copy_from_slice(start)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PREFIX: &[u8] = b"/registry/pods/default/";

    #[test]
    fn a_token_round_trips_inside_its_list() {
        let start = b"/registry/pods/default/web-1\0";
        let token = encode_continue(12, start);
        let (revision, key) = decode_continue(&token, PREFIX).unwrap();
        assert_eq!((revision, &key[..]), (12, &start[..]));
    }

    #[test]
    fn a_token_from_another_namespace_or_kind_is_refused() {
        for start in [
            &b"/registry/pods/kube-system/a"[..],
            b"/registry/pods/default",
            b"/registry/secrets/default/a",
            b"/registry/pods/",
            b"",
        ] {
            let err = decode_continue(&encode_continue(5, start), PREFIX).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, .. } if field == "continue"),
                "{start:?}: {err}"
            );
        }
    }

    proptest! {
        /// No token, made of any bytes, decodes to a key outside the list.
        #[test]
        fn no_token_yields_a_key_outside_the_prefix(
            raw in proptest::collection::vec(any::<u8>(), 0..80),
            revision in any::<i64>(),
            tail in proptest::collection::vec(any::<u8>(), 0..24),
            text in ".{0,60}",
        ) {
            let mut framed = revision.to_string().into_bytes();
            framed.push(b'\n');
            framed.extend_from_slice(&raw);
            let mut inside = PREFIX.to_vec();
            inside.extend_from_slice(&tail);
            for token in [
                URL_SAFE_NO_PAD.encode(&raw),
                URL_SAFE_NO_PAD.encode(&framed),
                encode_continue(revision, &inside),
                text.clone(),
            ] {
                if let Ok((r, key)) = decode_continue(&token, PREFIX) {
                    prop_assert!(key.starts_with(PREFIX), "{token:?} gave {key:?}");
                    prop_assert!(r > 0);
                }
            }
            // A well-formed token inside the list is accepted.
            if revision > 0 {
                let (r, key) = decode_continue(&encode_continue(revision, &inside), PREFIX).unwrap();
                prop_assert_eq!((r, &key[..]), (revision, &inside[..]));
            }
        }
    }
}
