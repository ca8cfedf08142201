//! Pods held at Permit: each waits until every plugin that said `Wait`
//! allows it, one rejects it, or its timeout passes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::status::Status;

struct Entry {
    pending: HashSet<String>,
    tx: Option<oneshot::Sender<Status>>,
    rx: Option<oneshot::Receiver<Status>>,
    timeout: Duration,
}

/// The pods waiting at Permit, by uid. Cheap to clone.
#[derive(Clone, Default)]
pub struct WaitingPods {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for WaitingPods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.inner.lock().keys()).finish()
    }
}

impl WaitingPods {
    pub(crate) fn add(&self, uid: &str, plugins: HashSet<String>, timeout: Duration) {
        let (tx, rx) = oneshot::channel();
        self.inner.lock().insert(
            uid.to_owned(),
            Entry { pending: plugins, tx: Some(tx), rx: Some(rx), timeout },
        );
    }

    pub(crate) async fn wait(&self, uid: &str) -> Status {
        let (rx, timeout) = {
            let mut map = self.inner.lock();
            match map.get_mut(uid) {
                Some(e) => (e.rx.take(), e.timeout),
                None => return Status::success(),
            }
        };
        let Some(rx) = rx else {
            return Status::error("pod is already being waited on");
        };
        let outcome = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(status)) => status,
            Ok(Err(_)) => Status::unschedulable("permit wait was abandoned"),
            Err(_) => {
                Status::unschedulable(format!("rejected by permit: timed out after {timeout:?}"))
            }
        };
        self.inner.lock().remove(uid);
        outcome
    }

    /// The uids of the pods waiting now.
    pub fn uids(&self) -> Vec<String> {
        self.inner.lock().keys().cloned().collect()
    }

    /// `plugin` allows the pod; once every waiting plugin has, it goes on to
    /// bind. Returns false if the pod is not waiting.
    pub fn allow(&self, uid: &str, plugin: &str) -> bool {
        let mut map = self.inner.lock();
        let Some(e) = map.get_mut(uid) else {
            return false;
        };
        e.pending.remove(plugin);
        if e.pending.is_empty() {
            if let Some(tx) = e.tx.take() {
                let _ = tx.send(Status::success());
            }
        }
        true
    }

    /// `plugin` rejects the pod: it goes back to the queue. Returns false if
    /// the pod is not waiting.
    pub fn reject(&self, uid: &str, plugin: &str, reason: &str) -> bool {
        let mut map = self.inner.lock();
        let Some(e) = map.get_mut(uid) else {
            return false;
        };
        if let Some(tx) = e.tx.take() {
            let _ = tx.send(Status::unschedulable(reason).with_plugin(plugin));
        }
        true
    }
}
