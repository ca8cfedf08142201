//! The finalizer helper: add the finalizer before acting; when the object is
//! being deleted, run the cleanup, then remove the finalizer so the object
//! can go (kube-rs's `finalizer`, controller-runtime's pattern).

use std::future::Future;
use std::sync::Arc;

use serde_json::json;

use super::reconciler::Action;
use crate::api::Api;
use crate::resource::Object;
use crate::Error;

/// What the helper asks the reconcile to do.
#[derive(Debug)]
pub enum FinalizerEvent<K> {
    /// The object is live and carries the finalizer: bring the world to it.
    Apply(Arc<K>),
    /// The object is being deleted: clean up what it owns outside the store.
    /// The finalizer is removed once this returns `Ok`.
    Cleanup(Arc<K>),
}

/// Runs `reconcile` under the finalizer `name`:
///
/// * live object without the finalizer: adds it (nothing else; the update
///   triggers the next reconcile, which sees it);
/// * live object with it: `Apply`;
/// * deleting object with it: `Cleanup`, then removes it;
/// * deleting object without it: nothing.
///
/// The finalizer is added and removed with a merge patch guarded by the
/// object's resourceVersion, so a stale cache never drops a finalizer that
/// someone else added.
///
/// Errors: the reconcile's; the Api's, converted into `E`.
pub async fn finalizer<K, E, F, Fut>(
    api: &Api<K>,
    name: &str,
    obj: Arc<K>,
    reconcile: F,
) -> Result<Action, E>
where
    K: Object,
    E: From<Error>,
    F: FnOnce(FinalizerEvent<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
{
    let meta = obj.meta();
    let has = meta.finalizers.iter().any(|f| f == name);
    match (meta.is_deleting(), has) {
        (false, true) => reconcile(FinalizerEvent::Apply(obj)).await,
        (false, false) => {
            let mut finalizers = meta.finalizers.clone();
            finalizers.push(name.to_owned());
            let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}});
            api.patch(&meta.name, &patch).await?;
            Ok(Action::await_change())
        }
        (true, true) => {
            let (object_name, rest, rv) = (
                meta.name.clone(),
                meta.finalizers.iter().filter(|f| *f != name).cloned().collect::<Vec<_>>(),
                meta.resource_version.clone(),
            );
            let action = reconcile(FinalizerEvent::Cleanup(obj)).await?;
            let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": rv}});
            match api.patch(&object_name, &patch).await {
                Ok(_) => Ok(action),
                Err(e) if e.is_not_found() => Ok(action),
                Err(e) => Err(e.into()),
            }
        }
        (true, false) => Ok(Action::await_change()),
    }
}
