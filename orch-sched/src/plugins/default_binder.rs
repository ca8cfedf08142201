//! DefaultBinder (Bind): binds through [`Api::bind`] — `spec.nodeName` and
//! `PodScheduled=True` in one write. As kube-scheduler's Binding, its
//! precondition is the pod's uid (a pod deleted and re-created under the
//! same name meanwhile is not bound in its place), not its resourceVersion
//! (a pod already bound is refused anyway): the scheduler's own status
//! writes change the pod while it is scheduled, and a resourceVersion on the
//! queued copy made every retry of such a pod fail.

use std::sync::Arc;

use async_trait::async_trait;
use orch_core::api::Preconditions;
use orch_core::store::Store;
use orch_core::{Api, Pod};

use crate::cycle_state::CycleState;
use crate::framework::BindPlugin;
use crate::status::Status;

/// The DefaultBinder plugin.
pub struct DefaultBinder {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for DefaultBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultBinder").finish_non_exhaustive()
    }
}

impl DefaultBinder {
    /// Binds through `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        DefaultBinder { store }
    }
}

#[async_trait]
impl BindPlugin for DefaultBinder {
    async fn bind(&self, _state: &CycleState, pod: &Pod, node: &str) -> Status {
        let api: Api<Pod> = Api::namespaced(self.store.clone(), &pod.metadata.namespace);
        let same_pod = Preconditions { uid: Some(pod.metadata.uid.clone()), ..Default::default() };
        match api.bind(&pod.metadata.name, node, &same_pod).await {
            Ok(_) => Status::success(),
            Err(e) => Status::error(format!("binding {} to {node}: {e}", pod.metadata.name)),
        }
    }
}
