//! Liveness, readiness and startup probes, as kubelet runs them: an
//! [`Action`] (exec, httpGet or tcpSocket) with initialDelaySeconds,
//! periodSeconds, timeoutSeconds, successThreshold and failureThreshold.

use std::time::Duration;

use orch_core::kinds::pod::{Container, Probe};
use tokio::time::Instant;

use super::actions::Action;
use crate::runtime::Runtime;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Restarts the container after `failureThreshold` failures.
    Liveness,
    /// Decides whether the container is Ready.
    Readiness,
    /// Holds the other probes off until it passes.
    Startup,
}

impl ProbeKind {
    /// `Liveness`, `Readiness` or `Startup`, as the kubelet's Unhealthy
    /// Events name them ("Readiness probe failed").
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// One probe of one running container, with its counters.
#[derive(Debug)]
pub struct ProbeTracker {
    /// Which probe.
    pub kind: ProbeKind,
    spec: Probe,
    successes: i32,
    failures: i32,
    /// The current verdict: `None` until the thresholds decide.
    pub passing: Option<bool>,
    /// When it runs next.
    pub next_at: Instant,
}

impl ProbeTracker {
    /// A tracker for a container that started at `started`.
    pub fn new(kind: ProbeKind, spec: Probe, started: Instant) -> Self {
        let delay = Duration::from_secs(spec.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        ProbeTracker {
            kind,
            spec,
            successes: 0,
            failures: 0,
            passing: None,
            next_at: started + delay,
        }
    }

    fn period(&self) -> Duration {
        Duration::from_secs(self.spec.period_seconds.unwrap_or(10).max(1) as u64)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.spec.timeout_seconds.unwrap_or(1).max(1) as u64)
    }

    /// Records one result and schedules the next run.
    pub fn record(&mut self, ok: bool, now: Instant) {
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= self.spec.success_threshold.unwrap_or(1).max(1) {
                self.passing = Some(true);
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= self.spec.failure_threshold.unwrap_or(3).max(1) {
                self.passing = Some(false);
            }
        }
        self.next_at = now + self.period();
    }

    /// Runs the probe once against a container: `Ok(())` if it passed,
    /// else why not, worded as the kubelet's probe results (the exec
    /// probe's output, `HTTP probe failed with statuscode: 503`, `dial tcp
    /// …: connection refused`).
    pub async fn probe(
        &self,
        runtime: &dyn Runtime,
        container_id: &str,
        pod_ip: &str,
        container: &Container,
    ) -> Result<(), String> {
        let action = if let Some(exec) = &self.spec.exec {
            Action::Exec(exec)
        } else if let Some(http) = &self.spec.http_get {
            Action::HttpGet(http)
        } else if let Some(tcp) = &self.spec.tcp_socket {
            Action::TcpSocket(tcp)
        } else {
            return Err("the probe has no exec, httpGet or tcpSocket action".into());
        };
        action.run(runtime, container_id, pod_ip, container, self.timeout()).await
    }
}
