//! Lifecycle hooks, as the kubelet runs them. `postStart` runs right after
//! the container starts; if it fails the container is killed (and restarted
//! as its restart policy says) with a Warning Event `FailedPostStartHook`.
//! Every stop of a container — the pod's deletion, a failed liveness or
//! startup probe, a failed postStart — goes through [`Worker::kill`]:
//! `preStop` first, within the grace period, then SIGTERM with the grace
//! left (at least 2 s, the kubelet's minimum), then SIGKILL. A failed
//! `preStop` is a Warning Event `FailedPreStopHook`; the container is
//! stopped anyway. The Events do not carry the hook's output (as the
//! kubelet, so a secret a hook prints does not reach the API); the log does.

use orch_core::kinds::pod::LifecycleHandler;

use super::*;
use crate::agent::actions::Action;

/// The least grace SIGTERM gets after a preStop hook (the kubelet's
/// `minimumGracePeriodInSeconds`).
pub(super) const MIN_GRACE_AFTER_PRE_STOP: Duration = Duration::from_secs(2);

/// How long a postStart hook may run. The kubelet sets no bound; one keeps
/// a hook that hangs from holding the pod's worker for ever.
const POST_START_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `handler` against container `id` (spec `c`, pod at `ip`) within
/// `timeout`.
async fn run_handler(
    handler: &LifecycleHandler,
    runtime: &dyn crate::runtime::Runtime,
    id: &str,
    ip: &str,
    c: &Container,
    timeout: Duration,
) -> Result<(), String> {
    let action = if let Some(sleep) = &handler.sleep {
        let seconds = Duration::from_secs(u64::try_from(sleep.seconds).unwrap_or(0));
        tokio::time::sleep(seconds.min(timeout)).await;
        return Ok(());
    } else if let Some(exec) = &handler.exec {
        Action::Exec(exec)
    } else if let Some(http) = &handler.http_get {
        Action::HttpGet(http)
    } else if let Some(tcp) = &handler.tcp_socket {
        Action::TcpSocket(tcp)
    } else {
        return Err("the hook has no exec, httpGet, tcpSocket or sleep action".into());
    };
    match tokio::time::timeout(timeout, action.run(runtime, id, ip, c, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(format!("did not complete within {timeout:?}")),
    }
}

impl Worker {
    /// The pod's IP, once it has a sandbox.
    fn pod_ip(&self) -> String {
        self.sandbox.as_ref().map(|s| s.2.clone()).unwrap_or_default()
    }

    /// Runs `c`'s postStart hook, if it has one, against its new container
    /// `id`; kills the container if the hook fails.
    pub(super) async fn post_start(&self, c: &Container, id: &str) {
        let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) else {
            return;
        };
        let rt = &*self.shared.runtime;
        let Err(why) = run_handler(hook, rt, id, &self.pod_ip(), c, POST_START_TIMEOUT).await
        else {
            return;
        };
        tracing::warn!(pod = %self.pod.metadata.name, container = %c.name, error = %why, "postStart hook failed");
        self.event(EventType::Warning, "FailedPostStartHook", "PostStartHook failed").await;
        let message = format!("Container {} failed postStart hook, will be killed", c.name);
        self.event(EventType::Normal, "Killing", &message).await;
        if let Err(e) = self.kill(Some(c), id, self.termination_grace()).await {
            tracing::warn!(pod = %self.pod.metadata.name, error = %e, "stopping a container failed");
        }
    }

    /// Stops container `id` (of spec `c`, if the pod still has it) as the
    /// kubelet's `killContainer`: its preStop hook within `grace`, then
    /// SIGTERM with the grace left — at least [`MIN_GRACE_AFTER_PRE_STOP`]
    /// if a hook ran — then SIGKILL.
    pub(super) async fn kill(
        &self,
        c: Option<&Container>,
        id: &str,
        grace: Duration,
    ) -> crate::Result<()> {
        let rt = &*self.shared.runtime;
        let hook = c.and_then(|c| Some((c, c.lifecycle.as_ref()?.pre_stop.as_ref()?)));
        let left = match hook {
            Some((c, hook)) if !grace.is_zero() => {
                let started = Instant::now();
                if let Err(why) = run_handler(hook, rt, id, &self.pod_ip(), c, grace).await {
                    tracing::warn!(pod = %self.pod.metadata.name, container = %c.name, error = %why, "preStop hook failed");
                    self.event(EventType::Warning, "FailedPreStopHook", "PreStopHook failed").await;
                }
                grace.saturating_sub(started.elapsed()).max(MIN_GRACE_AFTER_PRE_STOP)
            }
            _ => grace,
        };
        rt.stop_container(id, left).await
    }
}
