//! `ProcessRuntime`: containers as local processes — the embedded default:
//! no root, no images, real processes.
//!
//! * **Images.** There are none. A container runs its `command` + `args`;
//!   without a command, the image name is looked up in
//!   [`ProcessRuntimeConfig::images`] (image → entrypoint), and failing that
//!   the image name itself is run as a program (`image: sleep` runs `sleep`).
//!   `pull_image` only records the name.
//! * **Sandboxes.** Each gets its own loopback address, `127.<block>.x.y` (all of
//!   127.0.0.0/8 reaches `lo` on Linux), reported as its IP and passed to its
//!   containers as `POD_IP`, so replicas on one node all listen on their
//!   containerPort without colliding. Host-network sandboxes get 127.0.0.1.
//! * **Processes.** Each container is a process in a process group of its
//!   own, with a clean environment (`PATH` inherited, then `HOSTNAME`,
//!   `POD_IP`, `ORCH_IMAGE` — the image reference — and the container's env). Output goes to the container's log
//!   file in the CRI format. Stop sends SIGTERM to the group, then SIGKILL
//!   after the timeout. Exited processes are reaped as SIGCHLD arrives.
//! * **State** lives as JSON under `root/state`, so a new `ProcessRuntime`
//!   over the same root adopts what still runs: a process is recognized by
//!   its pid *and* start time, so a recycled pid is never mistaken for it.
//!   Within one OS process, adoption keeps exit codes and logs. After the
//!   agent's process itself restarts, adopted processes are no longer its
//!   children: their exit is noticed but the exit code is unknown (reported
//!   as 255, reason `Unknown`), and their output after the restart is lost.
//! * **Mounts.** A process has no mount namespace: a container with
//!   [`Mount`](crate::runtime::Mount)s gets a directory standing for its
//!   root, `root/rootfs/<container id>`, as `ORCH_ROOT` in its environment
//!   (and exec's), where each `container_path` is a symlink to its
//!   `host_path` — `$ORCH_ROOT/etc/config/app.conf` is the container's
//!   `/etc/config/app.conf`, and updates of the host path show at once.
//!   `readonly` is not enforced; a mount inside another mount is refused
//!   (`rootfs.rs`).
//! * CPU and memory limits are not enforced.
//!
//! This file is the `Runtime` impl, one method per CRI call (about 350 of
//! its ~620 lines); the parts that stand alone are beside it: process start
//! (`command.rs`), exits (`reaper.rs`), logs (`logs.rs`), records
//! (`state.rs`), mounts (`rootfs.rs`).

mod command;
mod config;
mod logs;
mod reaper;
mod rootfs;
mod state;

pub use config::ProcessRuntimeConfig;
pub use logs::cri_line;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::runtime::{
    labels_match, AuthConfig, Container, ContainerConfig, ContainerFilter, ContainerStatus,
    ExecSyncResponse, Image, ImageSpec, PodSandbox, PodSandboxConfig, PodSandboxFilter,
    PodSandboxStatus, Runtime, VersionInfo,
};
use crate::{Error, Result};
use command::container_command;
use reaper::{mark_exited_unknown, reap_loop, start_ticks, PendingExit};
use state::{ContainerRecord, RecordState, SandboxRecord};

/// The process runtime. See the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct ProcessRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProcessRuntimeConfig,
    sandbox_dir: PathBuf,
    container_dir: PathBuf,
    sandboxes: Mutex<HashMap<String, SandboxRecord>>,
    containers: Mutex<HashMap<String, ContainerRecord>>,
    images: Mutex<BTreeSet<String>>,
    /// Output streams still being copied, per running container started here.
    streams: Mutex<HashMap<String, Arc<logs::OpenStreams>>>,
    /// Exits seen but not yet reported: waiting for the output to be copied.
    pending_exits: Mutex<HashMap<String, PendingExit>>,
    exited: Arc<Notify>,
    reaper_started: AtomicBool,
    /// Held while reaping: the reap loop and a stop's wait both reap, and a
    /// second waitpid on a pid the first just reaped answers ECHILD, which
    /// must not be taken for "exited while no runtime watched it".
    reaping: Mutex<()>,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("root", &self.inner.config.root)
            .field("sandboxes", &self.inner.sandboxes.lock().len())
            .field("containers", &self.inner.containers.lock().len())
            .finish()
    }
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl ProcessRuntime {
    /// A runtime rooted at `config.root`; adopts the sandboxes and containers
    /// recorded there.
    ///
    /// Errors: [`Error::State`] if the state directories cannot be created.
    pub fn new(config: ProcessRuntimeConfig) -> Result<Self> {
        let state = config.root.join("state");
        let sandbox_dir = state.join("sandboxes");
        let container_dir = state.join("containers");
        for dir in [&sandbox_dir, &container_dir] {
            std::fs::create_dir_all(dir).map_err(|e| Error::State {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let sandboxes: HashMap<String, SandboxRecord> =
            state::load_all::<SandboxRecord>(&sandbox_dir)
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect();
        let mut containers: HashMap<String, ContainerRecord> =
            state::load_all::<ContainerRecord>(&container_dir)
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
        // A recorded process that is gone, or whose pid now belongs to
        // another process, exited while nobody watched.
        for c in containers.values_mut() {
            if c.state == RecordState::Running {
                let same = c.pid.is_some_and(|pid| {
                    c.start_ticks.is_some() && start_ticks(pid) == c.start_ticks
                });
                if !same {
                    mark_exited_unknown(c);
                    let _ = state::save(&container_dir, &c.id, c);
                }
            }
        }
        let runtime = ProcessRuntime {
            inner: Arc::new(Inner {
                config,
                sandbox_dir,
                container_dir,
                sandboxes: Mutex::new(sandboxes),
                containers: Mutex::new(containers),
                images: Mutex::new(BTreeSet::new()),
                streams: Mutex::new(HashMap::new()),
                pending_exits: Mutex::new(HashMap::new()),
                exited: Arc::new(Notify::new()),
                reaper_started: AtomicBool::new(false),
                reaping: Mutex::new(()),
            }),
        };
        Ok(runtime)
    }

    /// The process ID of a running container (its process group ID too).
    pub fn container_pid(&self, id: &str) -> Option<i32> {
        self.inner
            .containers
            .lock()
            .get(id)
            .filter(|c| c.state == RecordState::Running)
            .and_then(|c| c.pid)
    }

    /// Stops every container (SIGTERM, then SIGKILL after `grace`) and
    /// removes every sandbox: what an embedder calls when it shuts a node down.
    ///
    /// Errors: the first failure; the rest are still attempted.
    pub async fn shutdown(&self, grace: Duration) -> Result<()> {
        let running: Vec<String> = self
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| c.state == RecordState::Running)
            .map(|c| c.id.clone())
            .collect();
        let stops = running.iter().map(|id| self.stop_container(id, grace));
        let mut first = None;
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        let sandboxes: Vec<String> = self.inner.sandboxes.lock().keys().cloned().collect();
        for id in sandboxes {
            if let Err(e) = self.remove_pod_sandbox(&id).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Pids of the containers running now (for tests and diagnostics).
    pub fn running_pids(&self) -> Vec<i32> {
        self.inner
            .containers
            .lock()
            .values()
            .filter(|c| c.state == RecordState::Running)
            .filter_map(|c| c.pid)
            .collect()
    }

    fn ensure_reaper(&self) {
        if self.inner.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(reap_loop(Arc::downgrade(&self.inner), self.inner.exited.clone()));
    }
}

impl Inner {
    fn save_container(&self, c: &ContainerRecord) {
        if let Err(e) = state::save(&self.container_dir, &c.id, c) {
            tracing::warn!(container = %c.id, error = %e, "could not persist container state");
        }
    }

    fn sandbox(&self, id: &str) -> Result<SandboxRecord> {
        self.sandboxes
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound { what: format!("pod sandbox {id}") })
    }

    fn container(&self, id: &str) -> Result<ContainerRecord> {
        self.containers
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound { what: format!("container {id}") })
    }
}

#[async_trait]
impl Runtime for ProcessRuntime {
    async fn version(&self) -> Result<VersionInfo> {
        Ok(VersionInfo {
            runtime_api_version: "v1".into(),
            runtime_name: "orch-process".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
        })
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String> {
        let id = short_id();
        let meta = &config.metadata;
        let log_directory = if config.log_directory.is_empty() {
            self.inner
                .config
                .root
                .join("pods")
                .join(format!("{}_{}_{}", meta.namespace, meta.name, meta.uid))
        } else {
            PathBuf::from(&config.log_directory)
        };
        std::fs::create_dir_all(&log_directory).map_err(|e| Error::Runtime {
            call: "RunPodSandbox".into(),
            object: meta.name.clone(),
            reason: e.to_string(),
        })?;
        let mut sandboxes = self.inner.sandboxes.lock();
        let ip = if config.host_network {
            "127.0.0.1".to_owned()
        } else {
            let used: HashSet<&str> = sandboxes.values().map(|s| s.ip.as_str()).collect();
            let block = self.inner.config.address_block;
            (1..=255u32)
                .flat_map(|a| (1..=254u32).map(move |b| format!("127.{block}.{a}.{b}")))
                .find(|ip| !used.contains(ip.as_str()))
                .ok_or_else(|| Error::Runtime {
                    call: "RunPodSandbox".into(),
                    object: meta.name.clone(),
                    reason: "no free loopback address left".into(),
                })?
        };
        let record = SandboxRecord {
            id: id.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            namespace: meta.namespace.clone(),
            attempt: meta.attempt,
            hostname: if config.hostname.is_empty() {
                meta.name.clone()
            } else {
                config.hostname.clone()
            },
            log_directory,
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            ip,
            ready: true,
            created_at: now_ns(),
        };
        state::save(&self.inner.sandbox_dir, &id, &record)?;
        sandboxes.insert(id.clone(), record);
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        self.inner.sandbox(id)?;
        let ids: Vec<String> = self
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| c.sandbox_id == id)
            .map(|c| c.id.clone())
            .collect();
        for c in ids {
            self.stop_container(&c, Duration::ZERO).await?;
        }
        let mut sandboxes = self.inner.sandboxes.lock();
        if let Some(s) = sandboxes.get_mut(id) {
            s.ready = false;
            state::save(&self.inner.sandbox_dir, id, s)?;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        if self.inner.sandboxes.lock().get(id).is_none() {
            return Ok(());
        }
        self.stop_pod_sandbox(id).await?;
        let ids: Vec<String> = self
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| c.sandbox_id == id)
            .map(|c| c.id.clone())
            .collect();
        for c in ids {
            self.remove_container(&c).await?;
        }
        self.inner.sandboxes.lock().remove(id);
        state::forget(&self.inner.sandbox_dir, id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus> {
        Ok(self.inner.sandbox(id)?.to_status())
    }

    async fn list_pod_sandbox(&self, filter: &PodSandboxFilter) -> Result<Vec<PodSandbox>> {
        Ok(self
            .inner
            .sandboxes
            .lock()
            .values()
            .filter(|s| filter.id.as_ref().is_none_or(|id| *id == s.id))
            .filter(|s| filter.state.is_none_or(|st| st == s.state()))
            .filter(|s| labels_match(&s.labels, &filter.label_selector))
            .map(SandboxRecord::to_list_entry)
            .collect())
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        _sandbox: &PodSandboxConfig,
    ) -> Result<String> {
        let sandbox = self.inner.sandbox(pod_sandbox_id)?;
        if !sandbox.ready {
            return Err(Error::Runtime {
                call: "CreateContainer".into(),
                object: config.metadata.name.clone(),
                reason: format!("sandbox {pod_sandbox_id} is not ready"),
            });
        }
        let argv = command::resolve_argv(&self.inner.config.images, config)?;
        let id = short_id();
        let root = if config.mounts.is_empty() {
            None
        } else {
            let root = self.inner.config.root.join("rootfs").join(&id);
            rootfs::make(&root, &config.mounts).map_err(|reason| Error::Runtime {
                call: "CreateContainer".into(),
                object: config.metadata.name.clone(),
                reason,
            })?;
            Some(root)
        };
        let log_rel = if config.log_path.is_empty() {
            format!("{}/{}.log", config.metadata.name, config.metadata.attempt)
        } else {
            config.log_path.clone()
        };
        let record = ContainerRecord {
            id: id.clone(),
            sandbox_id: pod_sandbox_id.to_owned(),
            name: config.metadata.name.clone(),
            attempt: config.metadata.attempt,
            image: config.image.image.clone(),
            argv,
            envs: config.envs.clone(),
            working_dir: config.working_dir.clone(),
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            log_path: sandbox.log_directory.join(log_rel),
            state: RecordState::Created,
            created_at: now_ns(),
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            pid: None,
            start_ticks: None,
            root,
        };
        self.inner.save_container(&record);
        self.inner.containers.lock().insert(id.clone(), record);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.ensure_reaper();
        let record = self.inner.container(id)?;
        if record.state != RecordState::Created {
            return Err(Error::Runtime {
                call: "StartContainer".into(),
                object: id.into(),
                reason: "container is not in the created state".into(),
            });
        }
        let sandbox = self.inner.sandbox(&record.sandbox_id)?;
        let log = logs::open_log(&record.log_path).map_err(|e| Error::Runtime {
            call: "StartContainer".into(),
            object: record.name.clone(),
            reason: format!("log file: {e}"),
        })?;
        let mut cmd = container_command(&record.argv[0], &record.argv[1..], &record, &sandbox);
        cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let spawned = cmd.spawn();
        let mut containers = self.inner.containers.lock();
        let Some(c) = containers.get_mut(id) else {
            return Err(Error::NotFound { what: format!("container {id}") });
        };
        c.started_at = now_ns();
        match spawned {
            Ok(mut child) => {
                let pid = child.id() as i32;
                let streams = Arc::new(logs::OpenStreams {
                    open: std::sync::atomic::AtomicUsize::new(2),
                    done: self.inner.exited.clone(),
                });
                self.inner.streams.lock().insert(id.to_owned(), streams.clone());
                if let Some(out) = child.stdout.take() {
                    logs::copy_to_log(out, "stdout", log.clone(), streams.clone());
                }
                if let Some(err) = child.stderr.take() {
                    logs::copy_to_log(err, "stderr", log, streams);
                }
                // Not waited for here: the reaper collects its exit status.
                drop(child);
                c.state = RecordState::Running;
                c.pid = Some(pid);
                c.start_ticks = start_ticks(pid);
                let snapshot = c.clone();
                drop(containers);
                self.inner.save_container(&snapshot);
                Ok(())
            }
            Err(e) => {
                c.state = RecordState::Exited;
                c.exit_code = 128;
                c.finished_at = now_ns();
                c.reason = "StartError".into();
                c.message = format!("{}: {e}", record.argv[0]);
                let snapshot = c.clone();
                drop(containers);
                self.inner.save_container(&snapshot);
                Err(Error::Runtime {
                    call: "StartContainer".into(),
                    object: record.name,
                    reason: snapshot.message,
                })
            }
        }
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let record = self.inner.container(id)?;
        let Some(pid) = record.pid.filter(|_| record.state == RecordState::Running) else {
            return Ok(());
        };
        let group = Pid::from_raw(pid);
        if !timeout.is_zero() {
            let _ = killpg(group, Signal::SIGTERM);
            if self.inner.wait_exit(id, timeout).await {
                return Ok(());
            }
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = kill(group, Signal::SIGKILL);
        if !self.inner.wait_exit(id, Duration::from_secs(10)).await {
            return Err(Error::Runtime {
                call: "StopContainer".into(),
                object: record.name,
                reason: format!("process {pid} did not exit after SIGKILL"),
            });
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        if self.inner.containers.lock().get(id).is_none() {
            return Ok(());
        }
        self.stop_container(id, Duration::ZERO).await?;
        let removed = self.inner.containers.lock().remove(id);
        if let Some(root) = removed.and_then(|c| c.root) {
            let _ = std::fs::remove_dir_all(root);
        }
        state::forget(&self.inner.container_dir, id);
        Ok(())
    }

    // Exits are collected by the reaper as SIGCHLD arrives, not on every read.
    async fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        Ok(self.inner.container(id)?.to_status())
    }

    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>> {
        Ok(self
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| filter.id.as_ref().is_none_or(|id| *id == c.id))
            .filter(|c| filter.state.is_none_or(|s| s == c.cri_state()))
            .filter(|c| filter.pod_sandbox_id.as_ref().is_none_or(|s| *s == c.sandbox_id))
            .filter(|c| labels_match(&c.labels, &filter.label_selector))
            .map(ContainerRecord::to_list_entry)
            .collect())
    }

    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecSyncResponse> {
        let record = self.inner.container(id)?;
        let sandbox = self.inner.sandbox(&record.sandbox_id)?;
        command::exec_sync(&record, &sandbox, cmd, timeout).await
    }

    async fn pull_image(&self, image: &ImageSpec, _auth: Option<&AuthConfig>) -> Result<String> {
        self.inner.images.lock().insert(image.image.clone());
        Ok(image.image.clone())
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>> {
        let known = self.inner.images.lock().contains(&image.image)
            || self.inner.config.images.contains_key(&image.image);
        Ok(known.then(|| Image {
            id: image.image.clone(),
            repo_tags: vec![image.image.clone()],
            size: 0,
        }))
    }

    async fn list_images(&self) -> Result<Vec<Image>> {
        let mut names: BTreeSet<String> = self.inner.images.lock().clone();
        names.extend(self.inner.config.images.keys().cloned());
        Ok(names
            .into_iter()
            .map(|n| Image { id: n.clone(), repo_tags: vec![n], size: 0 })
            .collect())
    }

    async fn remove_image(&self, image: &ImageSpec) -> Result<()> {
        self.inner.images.lock().remove(&image.image);
        Ok(())
    }
}
