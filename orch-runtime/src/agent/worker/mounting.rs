//! The worker's volumes: set up before any container starts, refreshed in
//! place every `volume_resync_interval`, removed with the pod — as the
//! kubelet's volume manager.

use super::*;
use crate::agent::volumes;

/// What the worker remembers of its pod's volumes between syncs.
#[derive(Debug, Default)]
pub(super) struct VolumeState {
    /// Every volume was set up once: containers may start. Stays true when
    /// a later refresh fails (the volume keeps its last content, as the
    /// kubelet's).
    pub(super) mounted: bool,
    /// When the volumes were last set up or refreshed without an error.
    synced_at: Option<Instant>,
    /// The last `FailedMount` messages, so that each is recorded once.
    failures: Vec<String>,
}

impl Worker {
    /// Sets up or refreshes the pod's volumes when due. True when they are
    /// mounted (containers may start). A failure records a `FailedMount`
    /// Event (once per message) and is retried at the next sync; until the
    /// first success the containers stay `ContainerCreating`.
    pub(super) async fn sync_volumes(&mut self) -> bool {
        if self.pod.spec.volumes.is_empty() {
            return true;
        }
        let interval = self.shared.config.volume_resync_interval;
        let due = self.volumes.synced_at.is_none_or(|at| at.elapsed() >= interval);
        if !due {
            return self.volumes.mounted;
        }
        match volumes::set_up(&self.shared.store, &self.shared.config.root_dir, &self.pod).await {
            Ok(changed) => {
                if !changed.is_empty() && self.volumes.mounted {
                    tracing::debug!(pod = %self.pod.metadata.name, volumes = ?changed, "volumes updated in place");
                }
                self.volumes.mounted = true;
                self.volumes.synced_at = Some(Instant::now());
                self.volumes.failures.clear();
            }
            Err(failed) => {
                let messages: Vec<String> = failed.iter().map(ToString::to_string).collect();
                for message in &messages {
                    if !self.volumes.failures.contains(message) {
                        self.event(EventType::Warning, "FailedMount", message).await;
                    }
                }
                self.volumes.failures = messages;
            }
        }
        self.volumes.mounted
    }

    /// The runtime mounts of `c`, or holds it back with
    /// `CreateContainerConfigError` (returns `None`).
    pub(super) fn container_mounts(&mut self, c: &Container) -> Option<Vec<crate::runtime::Mount>> {
        match volumes::mounts(&self.shared.config.root_dir, &self.pod, c) {
            Ok(m) => Some(m),
            Err(message) => {
                self.tracks.entry(c.name.clone()).or_default().waiting =
                    Some(("CreateContainerConfigError".into(), message));
                None
            }
        }
    }

    /// Removes the pod's volumes from the node.
    pub(super) fn tear_down_volumes(&mut self) {
        volumes::tear_down(&self.shared.config.root_dir, &self.pod.metadata.uid);
        self.volumes = VolumeState::default();
    }
}
