//! The worker's image pulls: `imagePullPolicy`, credentials and pull
//! back-off, as the kubelet does them.

use super::*;

impl Worker {
    /// Makes the container's image present per its `imagePullPolicy`, as
    /// the kubelet: pulls with the registry's credentials, backs off after
    /// failed pulls (`ErrImagePull`, then `ImagePullBackOff`), and never
    /// pulls for `Never` (`ErrImageNeverPull`). True when the image is there.
    pub(super) async fn ensure_image(&mut self, c: &Container) -> bool {
        use orch_core::controller::EventType::{Normal, Warning};
        let rt = self.shared.runtime.clone();
        let spec = ImageSpec { image: c.image.clone() };
        let policy = PullPolicy::of(c);
        if policy != PullPolicy::Always {
            match rt.image_status(&spec).await {
                Ok(Some(_)) => {
                    let text =
                        format!("Container image \"{}\" already present on machine", c.image);
                    self.event(Normal, "Pulled", &text).await;
                    return true;
                }
                Ok(None) => {}
                Err(e) => {
                    self.set_waiting(&c.name, "ErrImageInspect", e.to_string());
                    return false;
                }
            }
        }
        if policy == PullPolicy::Never {
            let message =
                format!("Container image \"{}\" is not present with pull policy of Never", c.image);
            if self.set_waiting(&c.name, "ErrImageNeverPull", message.clone()) {
                self.event(Warning, "ErrImageNeverPull", &message).await;
            }
            return false;
        }
        let now = Instant::now();
        let retry_at = self.tracks.get(&c.name).and_then(|t| t.pull_retry_at);
        if let Some(at) = retry_at.filter(|at| now < *at) {
            let message = format!("Back-off pulling image \"{}\"", c.image);
            if self.set_waiting(&c.name, "ImagePullBackOff", message.clone()) {
                self.event(Normal, "BackOff", &message).await;
            }
            self.next_wake = self.next_wake.min(at);
            return false;
        }
        self.event(Normal, "Pulling", &format!("Pulling image \"{}\"", c.image)).await;
        let auth = credentials_for(&self.shared.config.registry_credentials, &c.image);
        let started = std::time::Instant::now();
        match rt.pull_image(&spec, auth).await {
            Ok(_) => {
                let track = self.tracks.entry(c.name.clone()).or_default();
                track.pull_failures = 0;
                track.pull_retry_at = None;
                let text = format!(
                    "Successfully pulled image \"{}\" in {} ms",
                    c.image,
                    started.elapsed().as_millis()
                );
                self.event(Normal, "Pulled", &text).await;
                true
            }
            Err(e) => {
                let config = &self.shared.config;
                let (initial, max) = (config.backoff_initial, config.backoff_max);
                let track = self.tracks.entry(c.name.clone()).or_default();
                track.pull_failures += 1;
                let at = now + pull_backoff(track.pull_failures, initial, max);
                track.pull_retry_at = Some(at);
                track.waiting = Some(("ErrImagePull".into(), e.to_string()));
                self.next_wake = self.next_wake.min(at);
                let text = format!("Failed to pull image \"{}\": {e}", c.image);
                self.event(Warning, "Failed", &text).await;
                false
            }
        }
    }
}
