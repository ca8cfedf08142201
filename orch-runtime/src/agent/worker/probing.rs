//! The worker's probes: startup, then liveness and readiness, run when
//! due against the container's current attempt; a failed liveness or
//! startup probe restarts it.

use super::*;

impl Worker {
    /// Runs the probes that are due; true if it killed the container.
    pub(super) async fn run_probes(&mut self, c: &Container, latest: &ContainerStatus) -> bool {
        let started = ns_to_instant(latest.started_at);
        let track = self.tracks.entry(c.name.clone()).or_default();
        if track.probed.as_deref() != Some(latest.id.as_str()) {
            track.probed = Some(latest.id.clone());
            track.probes = [
                (ProbeKind::Startup, &c.startup_probe),
                (ProbeKind::Liveness, &c.liveness_probe),
                (ProbeKind::Readiness, &c.readiness_probe),
            ]
            .into_iter()
            .filter_map(|(k, p)| p.clone().map(|p| ProbeTracker::new(k, p, started)))
            .collect();
        }
        let ip = self.sandbox.as_ref().map(|s| s.2.clone()).unwrap_or_default();
        let startup_passed = track
            .probes
            .iter()
            .find(|p| p.kind == ProbeKind::Startup)
            .is_none_or(|p| p.passing == Some(true));
        let mut kill = None;
        let mut failed = Vec::new();
        let now = Instant::now();
        for p in &mut track.probes {
            if p.kind != ProbeKind::Startup && !startup_passed {
                continue;
            }
            if p.kind == ProbeKind::Startup && p.passing == Some(true) {
                continue;
            }
            if now >= p.next_at {
                let result = p.probe(&*self.shared.runtime, &latest.id, &ip, c).await;
                p.record(result.is_ok(), Instant::now());
                if let Err(why) = result {
                    failed.push(format!("{} probe failed: {why}", p.kind.as_str()));
                }
                if p.passing == Some(false)
                    && matches!(p.kind, ProbeKind::Liveness | ProbeKind::Startup)
                {
                    let what = p.kind.as_str().to_lowercase();
                    kill = Some(format!(
                        "Container {} failed {what} probe, will be restarted",
                        c.name
                    ));
                }
            }
            self.next_wake = self.next_wake.min(p.next_at);
        }
        for message in failed {
            self.event(orch_core::controller::EventType::Warning, "Unhealthy", &message).await;
        }
        if let Some(reason) = kill {
            tracing::info!(pod = %self.pod.metadata.name, container = %c.name, "{reason}");
            self.event(orch_core::controller::EventType::Normal, "Killing", &reason).await;
            let _ = self.kill(Some(c), &latest.id, self.termination_grace()).await;
            self.next_wake = Instant::now();
            return true;
        }
        false
    }
}
