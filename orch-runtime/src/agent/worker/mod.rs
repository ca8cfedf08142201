//! The pod worker: one per Pod bound to the node, syncing desired to actual
//! — sandbox, then init containers in order, then containers — restarting
//! per `restartPolicy` with CrashLoopBackOff, running probes, keeping the
//! Pod's volumes (`mounting.rs`), and writing the Pod's status when it
//! changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use orch_core::api::DeleteParams;
use orch_core::controller::EventType;
use orch_core::kinds::pod::{
    Container, ContainerStatus as PodContainerStatus, Pod, PodPhase, PodStatus, Probe,
    RestartPolicy,
};
use orch_core::{Api, Time};
use tokio::sync::mpsc;
use tokio::time::Instant;

mod hooks;
mod image_pull;
mod mounting;
mod probing;

use super::env;
use super::images::{credentials_for, pull_backoff, PullPolicy};
use super::pod_status::{self, ContainerObservation};
use super::probes::{ProbeKind, ProbeTracker};
use super::AgentShared;
use crate::runtime::{
    ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState, ContainerStatus,
    ImageSpec, LinuxContainerResources, PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata,
};

/// Label: the pod uid of a sandbox or container.
pub const LABEL_POD_UID: &str = "orch.io/pod-uid";
/// Label: the pod name.
pub const LABEL_POD_NAME: &str = "orch.io/pod-name";
/// Label: the pod namespace.
pub const LABEL_POD_NAMESPACE: &str = "orch.io/pod-namespace";
/// Label: the node whose agent made the sandbox or container, so agents
/// that share a runtime leave each other's pods alone.
pub const LABEL_NODE_NAME: &str = "orch.io/node-name";
/// Label: the container's name in its pod.
pub const LABEL_CONTAINER_NAME: &str = "orch.io/container-name";

/// What the agent tells a worker.
#[derive(Debug)]
pub(crate) enum Update {
    /// The pod as last seen.
    Pod(Arc<Pod>),
    /// The pod object is gone: stop everything.
    Gone,
}

/// Per-container state the worker keeps between syncs.
#[derive(Debug, Default)]
struct Track {
    /// Container ID the probes belong to.
    probed: Option<String>,
    probes: Vec<ProbeTracker>,
    /// A create error (e.g. CreateContainerConfigError) to show as waiting.
    waiting: Option<(String, String)>,
    /// Failed image pulls in a row, and when the next may be tried.
    pull_failures: u32,
    pull_retry_at: Option<Instant>,
}

pub(crate) struct Worker {
    shared: Arc<AgentShared>,
    pod: Arc<Pod>,
    sandbox: Option<(String, PodSandboxConfig, String)>,
    tracks: HashMap<String, Track>,
    start_time: Option<Time>,
    next_wake: Instant,
    /// When this agent first saw the pod, until its start is recorded in
    /// `kubelet_pod_start_duration_seconds` (`None` after, or for a pod
    /// that was running already).
    seen: Option<std::time::Instant>,
    volumes: mounting::VolumeState,
}

fn ns_to_instant(ns: i64) -> Instant {
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let ago = Duration::from_nanos(now_ns.saturating_sub(ns).max(0) as u64);
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

impl Worker {
    pub(crate) fn new(shared: Arc<AgentShared>, pod: Arc<Pod>) -> Self {
        let pending =
            matches!(pod.status.as_ref().and_then(|s| s.phase), None | Some(PodPhase::Pending));
        Worker {
            shared,
            pod,
            sandbox: None,
            tracks: HashMap::new(),
            start_time: None,
            next_wake: Instant::now(),
            seen: pending.then(std::time::Instant::now),
            volumes: Default::default(),
        }
    }

    fn api(&self) -> Api<Pod> {
        Api::namespaced(self.shared.store.clone(), &self.pod.metadata.namespace)
    }

    fn uid(&self) -> &str {
        &self.pod.metadata.uid
    }

    /// Runs until the pod is gone.
    pub(crate) async fn run(mut self, mut updates: mpsc::UnboundedReceiver<Update>) {
        loop {
            let done = match self.sync().await {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(pod = %self.pod.metadata.name, error = %e, "pod sync failed; retrying");
                    false
                }
            };
            if done {
                return;
            }
            let resync = Instant::now() + self.shared.config.resync_interval;
            let wake = self.next_wake.max(Instant::now()).min(resync);
            tokio::select! {
                update = updates.recv() => match update {
                    Some(Update::Pod(p)) => self.pod = p,
                    Some(Update::Gone) => {
                        self.teardown(self.termination_grace()).await;
                        return;
                    }
                    // The agent is stopping: the containers keep running
                    // and the next agent adopts them.
                    None => return,
                },
                _ = tokio::time::sleep_until(wake) => {}
            }
            // Take every queued update: only the latest pod matters.
            while let Ok(update) = updates.try_recv() {
                match update {
                    Update::Pod(p) => self.pod = p,
                    Update::Gone => {
                        self.teardown(self.termination_grace()).await;
                        return;
                    }
                }
            }
        }
    }

    /// How long the pod's containers get between SIGTERM and SIGKILL: the
    /// deletion's grace period if it is being deleted, else the spec's
    /// terminationGracePeriodSeconds (30 s by default), as the kubelet.
    fn termination_grace(&self) -> Duration {
        let seconds = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or_else(|| self.pod.spec.termination_grace_period_seconds());
        Duration::from_secs(seconds.max(0) as u64)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let m = &self.pod.metadata;
        BTreeMap::from([
            (LABEL_POD_UID.to_string(), m.uid.clone()),
            (LABEL_POD_NAME.to_string(), m.name.clone()),
            (LABEL_POD_NAMESPACE.to_string(), m.namespace.clone()),
            (LABEL_NODE_NAME.to_string(), self.shared.config.node_name.clone()),
        ])
    }

    /// The pod's sandbox: adopted through its labels, or created.
    async fn ensure_sandbox(&mut self) -> crate::Result<(String, PodSandboxConfig, String)> {
        if let Some(s) = &self.sandbox {
            return Ok(s.clone());
        }
        let rt = &self.shared.runtime;
        let m = &self.pod.metadata;
        let config = PodSandboxConfig {
            metadata: PodSandboxMetadata {
                name: m.name.clone(),
                uid: m.uid.clone(),
                namespace: m.namespace.clone(),
                attempt: 0,
            },
            hostname: self.pod.spec.hostname.clone().unwrap_or_else(|| m.name.clone()),
            log_directory: String::new(),
            labels: self.labels(),
            annotations: BTreeMap::new(),
            host_network: self.pod.spec.host_network == Some(true),
        };
        let filter = PodSandboxFilter {
            label_selector: BTreeMap::from([(LABEL_POD_UID.to_string(), m.uid.clone())]),
            ..Default::default()
        };
        let existing = rt
            .list_pod_sandbox(&filter)
            .await?
            .into_iter()
            .find(|s| s.state == crate::runtime::PodSandboxState::Ready);
        let id = match existing {
            Some(s) => s.id,
            None => rt.run_pod_sandbox(&config).await?,
        };
        let mut ip = rt.pod_sandbox_status(&id).await?.ip;
        if ip.is_empty() {
            // The node's network (hostNetwork, or no CNI): the pod IP is the
            // node's, as the kubelet reports it.
            ip = self.shared.config.node_ip.clone();
        }
        let s = (id, config, ip);
        self.sandbox = Some(s.clone());
        Ok(s)
    }

    /// Every container of this pod named `name`, newest attempt first.
    async fn attempts(&self, name: &str) -> crate::Result<Vec<ContainerStatus>> {
        let filter = ContainerFilter {
            label_selector: BTreeMap::from([
                (LABEL_POD_UID.to_string(), self.uid().to_owned()),
                (LABEL_CONTAINER_NAME.to_string(), name.to_owned()),
            ]),
            ..Default::default()
        };
        let mut out = Vec::new();
        for c in self.shared.runtime.list_containers(&filter).await? {
            out.push(self.shared.runtime.container_status(&c.id).await?);
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.metadata.attempt));
        Ok(out)
    }

    fn backoff_delay(&self, restarts: u32, ran_for: Duration) -> Duration {
        let c = &self.shared.config;
        if restarts <= 1 || ran_for >= c.backoff_reset {
            return Duration::ZERO;
        }
        let exp = (restarts - 2).min(20);
        c.backoff_initial.saturating_mul(1 << exp).min(c.backoff_max)
    }

    /// Sets a container's waiting reason; true if it is a new reason (so
    /// its Event is recorded once, not at every sync).
    fn set_waiting(&mut self, container: &str, reason: &str, message: String) -> bool {
        let track = self.tracks.entry(container.to_owned()).or_default();
        let fresh = track.waiting.as_ref().is_none_or(|(r, _)| r != reason);
        track.waiting = Some((reason.to_owned(), message));
        fresh
    }

    async fn start(&mut self, container: &Container, attempt: u32) -> crate::Result<()> {
        let (sandbox_id, sandbox_config, ip) = self.ensure_sandbox().await?;
        if !self.ensure_image(container).await {
            return Ok(());
        }
        let resolved = match env::resolve(
            &self.shared.store,
            &self.pod,
            container,
            &ip,
            &self.shared.config.node_ip,
        )
        .await
        {
            Ok(e) => e,
            Err(message) => {
                self.tracks.entry(container.name.clone()).or_default().waiting =
                    Some(("CreateContainerConfigError".into(), message));
                return Ok(());
            }
        };
        for warning in &resolved.warnings {
            self.event(EventType::Warning, "InvalidEnvironmentVariableNames", warning).await;
        }
        let envs = resolved.envs;
        let Some(mounts) = self.container_mounts(container) else {
            return Ok(());
        };
        let mut labels = self.labels();
        labels.insert(LABEL_CONTAINER_NAME.into(), container.name.clone());
        let requests = container.resources.as_ref().map(|r| (&r.requests, &r.limits));
        let cpu = |m: Option<&orch_core::Quantity>| m.and_then(|q| q.as_millis().ok()).unwrap_or(0);
        let resources = match requests {
            Some((req, lim)) => LinuxContainerResources {
                cpu_shares: (cpu(req.get("cpu")) * 1024 / 1000).max(2),
                cpu_quota: cpu(lim.get("cpu")) * 100,
                cpu_period: if lim.contains_key("cpu") { 100_000 } else { 0 },
                memory_limit_in_bytes: lim
                    .get("memory")
                    .and_then(|q| q.as_bytes().ok())
                    .unwrap_or(0),
            },
            None => LinuxContainerResources { cpu_shares: 2, ..Default::default() },
        };
        let config = ContainerConfig {
            metadata: ContainerMetadata { name: container.name.clone(), attempt },
            image: ImageSpec { image: container.image.clone() },
            command: container.command.clone(),
            args: container.args.clone(),
            working_dir: container.working_dir.clone().unwrap_or_default(),
            envs,
            labels,
            annotations: BTreeMap::new(),
            log_path: format!("{}/{attempt}.log", container.name),
            resources,
            mounts,
        };
        let rt = &self.shared.runtime;
        let track = self.tracks.entry(container.name.clone()).or_default();
        track.waiting = None;
        match rt.create_container(&sandbox_id, &config, &sandbox_config).await {
            Ok(id) => {
                match rt.start_container(&id).await {
                    Err(e) => track.waiting = Some(("StartError".into(), e.to_string())),
                    Ok(()) => {
                        let message = format!("Started container {}", container.name);
                        self.event(EventType::Normal, "Started", &message).await;
                        self.post_start(container, &id).await;
                    }
                }
                Ok(())
            }
            Err(e) => {
                track.waiting = Some(("CreateContainerError".into(), e.to_string()));
                Ok(())
            }
        }
    }

    /// Records an Event about the pod (best effort).
    async fn event(&self, type_: orch_core::controller::EventType, reason: &str, message: &str) {
        let reference = orch_core::controller::object_reference(&*self.pod);
        let _ = self.shared.recorder.record(&reference, type_, reason, message).await;
    }

    /// Stops every container gracefully and removes the sandbox.
    async fn teardown(&mut self, grace: Duration) {
        let rt = &self.shared.runtime;
        let filter = ContainerFilter {
            label_selector: BTreeMap::from([(LABEL_POD_UID.to_string(), self.uid().to_owned())]),
            ..Default::default()
        };
        if let Ok(containers) = rt.list_containers(&filter).await {
            for c in containers.iter().filter(|c| c.state == ContainerState::Running) {
                let message = format!("Stopping container {}", c.metadata.name);
                self.event(orch_core::controller::EventType::Normal, "Killing", &message).await;
            }
            let spec = |name: &str| self.pod.spec.containers.iter().find(|c| c.name == name);
            let stops = containers
                .iter()
                .filter(|c| c.state == ContainerState::Running)
                .map(|c| self.kill(spec(&c.metadata.name), &c.id, grace));
            for r in futures::future::join_all(stops).await {
                if let Err(e) = r {
                    tracing::warn!(pod = %self.pod.metadata.name, error = %e, "stopping a container failed");
                }
            }
        }
        let sandboxes = PodSandboxFilter {
            label_selector: BTreeMap::from([(LABEL_POD_UID.to_string(), self.uid().to_owned())]),
            ..Default::default()
        };
        if let Ok(list) = rt.list_pod_sandbox(&sandboxes).await {
            for s in list {
                let _ = rt.stop_pod_sandbox(&s.id).await;
                let _ = rt.remove_pod_sandbox(&s.id).await;
            }
        }
        self.sandbox = None;
        self.tear_down_volumes();
    }

    /// One sync. Returns true when the pod is finished with (deleted).
    async fn sync(&mut self) -> crate::Result<bool> {
        let now = Instant::now();
        self.next_wake = now + self.shared.config.resync_interval;
        if self.pod.metadata.is_deleting() {
            self.teardown(self.termination_grace()).await;
            let force = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
            match self.api().delete(&self.pod.metadata.name, &force).await {
                Ok(_) | Err(orch_core::Error::NotFound { .. }) => return Ok(true),
                Err(e) => return Err(e.into()),
            }
        }
        if self.start_time.is_none() {
            self.start_time =
                self.pod.status.as_ref().and_then(|s| s.start_time).or_else(|| Some(Time::now()));
        }
        let (_, _, ip) = self.ensure_sandbox().await?;
        // No container starts before every volume is set up (the kubelet's
        // WaitForAttachAndMount); running ones keep running meanwhile.
        let mounted = self.sync_volumes().await;
        let policy = self.pod.spec.restart_policy();
        let pod = self.pod.clone();

        // Init containers, in order: each must succeed before the next.
        let mut init_statuses = Vec::new();
        let mut initialized = true;
        for c in &pod.spec.init_containers {
            let attempts = self.attempts(&c.name).await?;
            let done = attempts
                .first()
                .is_some_and(|a| a.state == ContainerState::Exited && a.exit_code == 0);
            let attempts = if !done
                && initialized
                && (mounted || !attempts.is_empty())
                && self.drive(c, &attempts, policy, true).await?
            {
                self.attempts(&c.name).await?
            } else {
                attempts
            };
            init_statuses.push(self.container_status(c, &attempts));
            initialized &= attempts
                .first()
                .is_some_and(|a| a.state == ContainerState::Exited && a.exit_code == 0);
            if !initialized {
                break;
            }
        }
        let mut statuses = Vec::new();
        for c in &pod.spec.containers {
            let mut attempts = self.attempts(&c.name).await?;
            let may_drive = mounted || !attempts.is_empty();
            if initialized && may_drive && self.drive(c, &attempts, policy, false).await? {
                attempts = self.attempts(&c.name).await?;
            }
            statuses.push(self.container_status(c, &attempts));
        }
        self.write_status(init_statuses, statuses, initialized, &ip).await?;
        Ok(false)
    }

    /// Starts, restarts (with CrashLoopBackOff) or probes one container.
    /// Returns true if it changed the container (so its status is read again).
    async fn drive(
        &mut self,
        c: &Container,
        attempts: &[ContainerStatus],
        policy: RestartPolicy,
        init: bool,
    ) -> crate::Result<bool> {
        let now = Instant::now();
        let Some(latest) = attempts.first() else {
            self.start(c, 0).await?;
            return Ok(true);
        };
        match latest.state {
            ContainerState::Created => {
                let _ = self.shared.runtime.start_container(&latest.id).await;
            }
            ContainerState::Running => return Ok(self.run_probes(c, latest).await),
            ContainerState::Exited | ContainerState::Unknown => {
                let restart = match policy {
                    RestartPolicy::Always => !init || latest.exit_code != 0,
                    RestartPolicy::OnFailure => latest.exit_code != 0,
                    RestartPolicy::Never => false,
                };
                if !restart {
                    return Ok(false);
                }
                let restarts = latest.metadata.attempt + 1;
                let ran_for =
                    Duration::from_nanos((latest.finished_at - latest.started_at).max(0) as u64);
                let delay = self.backoff_delay(restarts, ran_for);
                let allowed_at = ns_to_instant(latest.finished_at) + delay;
                if now < allowed_at {
                    let message = format!(
                        "back-off {delay:?} restarting failed container={} pod={}",
                        c.name, self.pod.metadata.name
                    );
                    if self.set_waiting(&c.name, "CrashLoopBackOff", message) {
                        let text = format!("Back-off restarting failed container {}", c.name);
                        self.event(orch_core::controller::EventType::Warning, "BackOff", &text)
                            .await;
                    }
                    self.next_wake = self.next_wake.min(allowed_at);
                    return Ok(false);
                }
                // Keep the exited attempt (it is the lastState); drop older ones.
                for old in attempts.iter().skip(1) {
                    let _ = self.shared.runtime.remove_container(&old.id).await;
                }
                self.start(c, restarts).await?;
            }
        }
        Ok(true)
    }

    /// The container's status from its attempts and what the worker holds
    /// for it (a hold-back reason, its probes' results).
    fn container_status(&self, c: &Container, attempts: &[ContainerStatus]) -> PodContainerStatus {
        let track = self.tracks.get(&c.name);
        // Only probes run against this very container count: a container
        // just started (or restarted) with a readiness probe is not ready
        // until that probe has passed.
        let probes = attempts
            .first()
            .and_then(|l| track.filter(|t| t.probed.as_deref() == Some(l.id.as_str())))
            .map(|t| &t.probes[..])
            .unwrap_or_default();
        let passed = |kind: ProbeKind, spec: &Option<Probe>| {
            spec.is_none() || probes.iter().any(|p| p.kind == kind && p.passing == Some(true))
        };
        let observed = ContainerObservation {
            name: &c.name,
            image: &c.image,
            waiting: track.and_then(|t| t.waiting.clone()),
            startup_passed: passed(ProbeKind::Startup, &c.startup_probe),
            readiness_passed: passed(ProbeKind::Readiness, &c.readiness_probe),
            id_scheme: self.shared.container_id_scheme(),
        };
        pod_status::container_status(&observed, attempts)
    }

    async fn write_status(
        &mut self,
        init: Vec<PodContainerStatus>,
        statuses: Vec<PodContainerStatus>,
        initialized: bool,
        ip: &str,
    ) -> crate::Result<()> {
        let old = self.pod.status.clone().unwrap_or_default();
        let status = PodStatus {
            phase: Some(pod_status::pod_phase(
                self.pod.spec.restart_policy(),
                &init,
                &statuses,
                initialized,
            )),
            conditions: pod_status::pod_conditions(
                &old.conditions,
                initialized,
                &statuses,
                Time::now(),
            ),
            message: None,
            reason: None,
            host_ip: Some(self.shared.config.node_ip.clone()),
            pod_ip: Some(ip.to_owned()),
            start_time: self.start_time,
            nominated_node_name: old.nominated_node_name.clone(),
            init_container_statuses: init,
            container_statuses: statuses,
        };
        if self.pod.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let running = status.phase == Some(PodPhase::Running);
        let mut next = (*self.pod).clone();
        next.status = Some(status);
        match self.api().replace_status(&next).await {
            Ok(_) => {
                if let (true, Some(seen), Some(m)) =
                    (running, self.seen, &self.shared.config.metrics)
                {
                    m.pod_started(&self.shared.config.node_name, seen.elapsed());
                    self.seen = None;
                }
                Ok(())
            }
            Err(orch_core::Error::NotFound { .. }) => Ok(()),
            // The informer brings the newer pod; the next sync writes again.
            Err(e) if e.is_conflict() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
