//! The public [`Runtime`] conformance suite (feature `conformance`): the
//! contract of CRI's RuntimeService as orch's node agent relies on it, one
//! case per behaviour, that every implementation runs — [`ProcessRuntime`]
//! and `CriRuntime` (against a real containerd) do, the way the Store suite
//! (`orch_core::store::conformance`) and openraft's storage suite are run.
//!
//! A case takes a fresh [`Subject`]: the runtime, an image with a POSIX
//! `sh` (with `echo`, `sleep`, `trap`, `pwd`, `true`), and whatever keeps the
//! runtime alive. The [`runtime_conformance_tests!`](crate::runtime_conformance_tests)
//! macro expands to one `#[tokio::test]` per case; a third-party `Runtime`
//! calls it once, inside a module of its own test file:
//!
//! ```ignore
//! mod conformance {
//!     orch_runtime::runtime_conformance_tests!(async {
//!         let dir = tempfile::tempdir().unwrap();
//!         let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path())).unwrap();
//!         orch_runtime::conformance::Subject::new(rt, ImageSpec::default(), dir)
//!     });
//! }
//! ```
//!
//! Every wait has a deadline ([`DEADLINE`]) and fails the case with what it
//! last saw; no case sleeps to synchronise.
//!
//! [`ProcessRuntime`]: crate::process::ProcessRuntime

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_core::testing::wait_for;

use crate::runtime::*;
use crate::Error;

/// How long a case waits for a container to reach a state or log a line
/// before it fails: 30 seconds (a CRI runtime may pull, mount and start).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The runtime under test, for one case.
pub struct Subject {
    /// The runtime.
    pub runtime: Arc<dyn Runtime>,
    /// An image with a POSIX `sh` on its PATH. For runtimes without images
    /// (the process runtime) the default, empty `ImageSpec`.
    pub shell_image: ImageSpec,
    /// Dropped after the case, after the runtime: a temp dir, a containerd
    /// process.
    _guard: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject").field("shell_image", &self.shell_image).finish_non_exhaustive()
    }
}

impl Subject {
    /// A subject of `runtime`, running shell commands from `shell_image`,
    /// kept alive by `guard` (dropped when the case ends).
    pub fn new(
        runtime: impl Runtime,
        shell_image: ImageSpec,
        guard: impl Any + Send + Sync,
    ) -> Self {
        Subject { runtime: Arc::new(runtime), shell_image, _guard: Box::new(guard) }
    }

    /// A container config named `name` running `sh -c script` from the
    /// shell image, labelled `orch.io/container={name}`, logging to
    /// `{name}/0.log` in the sandbox's log directory.
    pub fn shell(&self, name: &str, script: &str) -> ContainerConfig {
        ContainerConfig {
            metadata: ContainerMetadata { name: name.into(), attempt: 0 },
            image: self.shell_image.clone(),
            command: vec!["sh".into(), "-c".into(), script.into()],
            labels: BTreeMap::from([("orch.io/container".to_string(), name.to_string())]),
            log_path: format!("{name}/0.log"),
            ..Default::default()
        }
    }

    /// Runs a sandbox for pod `pod` ([`sandbox_config`]) and, in it, a
    /// started container running `script`. Returns (sandbox, container).
    ///
    /// # Panics
    ///
    /// If any of the calls fails.
    pub async fn running(&self, pod: &str, name: &str, script: &str) -> (String, String) {
        let sandbox = sandbox_config(pod);
        let sid = self.runtime.run_pod_sandbox(&sandbox).await.expect("RunPodSandbox");
        let cid = self
            .runtime
            .create_container(&sid, &self.shell(name, script), &sandbox)
            .await
            .expect("CreateContainer");
        self.runtime.start_container(&cid).await.expect("StartContainer");
        (sid, cid)
    }
}

/// A sandbox config for pod `name` in `default` (uid `uid-{name}`),
/// labelled `orch.io/pod={name}`, with the pod name as hostname.
pub fn sandbox_config(name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        },
        hostname: name.into(),
        labels: BTreeMap::from([("orch.io/pod".to_string(), name.to_string())]),
        ..Default::default()
    }
}

/// Exits 0 on SIGTERM, once it has logged `trapped`.
pub const STOPS_ON_TERM: &str = "trap 'exit 0' TERM; echo trapped; sleep 300 & wait";
/// Ignores SIGTERM, once it has logged `trapped`.
pub const IGNORES_TERM: &str = "trap '' TERM; echo trapped; while true; do sleep 1; done";

/// Waits until container `id` is in `state`, and returns its status.
///
/// # Panics
///
/// After [`DEADLINE`], with the last status seen.
pub async fn wait_state(rt: &dyn Runtime, id: &str, state: ContainerState) -> ContainerStatus {
    wait_for(format!("container {id} to be {state:?}"), DEADLINE, || async {
        match rt.container_status(id).await {
            Ok(s) if s.state == state => Ok(s),
            Ok(s) => Err(format!("{:?}", s.state)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Waits until container `id`'s log has a line whose text is `text`.
///
/// # Panics
///
/// After [`DEADLINE`], with the log as last read.
pub async fn wait_logged(rt: &dyn Runtime, id: &str, text: &str) {
    let log_path = rt.container_status(id).await.expect("ContainerStatus").log_path;
    wait_for(format!("container {id} to log {text:?}"), DEADLINE, || async {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log_lines(&log).iter().any(|l| l.text == text) {
            Ok(())
        } else {
            Err(format!("log so far: {log:?}"))
        }
    })
    .await
}

/// One line of a CRI container log: `<RFC 3339 time> <stream> <tag> <text>`.
#[derive(Debug, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// The time, as written.
    pub time: &'a str,
    /// `stdout` or `stderr`.
    pub stream: &'a str,
    /// `F` for a full line, `P` for a partial one.
    pub tag: &'a str,
    /// The text.
    pub text: &'a str,
}

/// The lines of a CRI log file; lines that are not in the format are left
/// out (a case that expects a line then fails).
pub fn log_lines(log: &str) -> Vec<LogLine<'_>> {
    log.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            Some(LogLine {
                time: parts.next()?,
                stream: parts.next()?,
                tag: parts.next()?,
                text: parts.next().unwrap_or(""),
            })
        })
        .collect()
}

/// RunPodSandbox, PodSandboxStatus, ListPodSandbox (by label), then
/// StopPodSandbox (NotReady) and RemovePodSandbox, which is idempotent.
pub async fn sandbox_lifecycle(s: &Subject) {
    let rt = &*s.runtime;
    let sandbox = sandbox_config("life");
    let sid = rt.run_pod_sandbox(&sandbox).await.expect("RunPodSandbox");
    let status = rt.pod_sandbox_status(&sid).await.expect("PodSandboxStatus");
    assert_eq!(status.state, PodSandboxState::Ready);
    assert_eq!(status.metadata.name, "life");
    let other = rt.run_pod_sandbox(&sandbox_config("other")).await.expect("RunPodSandbox");
    let filter = PodSandboxFilter { label_selector: sandbox.labels.clone(), ..Default::default() };
    let listed = rt.list_pod_sandbox(&filter).await.expect("ListPodSandbox");
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [sid.as_str()]);
    rt.stop_pod_sandbox(&sid).await.expect("StopPodSandbox");
    let status = rt.pod_sandbox_status(&sid).await.expect("PodSandboxStatus");
    assert_eq!(status.state, PodSandboxState::NotReady);
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox");
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox of a removed sandbox");
    let left = rt.list_pod_sandbox(&PodSandboxFilter::default()).await.expect("ListPodSandbox");
    assert_eq!(left.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [other.as_str()]);
    rt.remove_pod_sandbox(&other).await.expect("RemovePodSandbox");
}

/// A container is Created until started, then exits with its code: 0 is
/// `Completed`, non-zero `Error`; both times are set.
pub async fn containers_exit_with_their_codes(s: &Subject) {
    let rt = &*s.runtime;
    let sandbox = sandbox_config("exit");
    let sid = rt.run_pod_sandbox(&sandbox).await.expect("RunPodSandbox");
    let fail = rt.create_container(&sid, &s.shell("fail", "exit 3"), &sandbox).await.unwrap();
    assert_eq!(rt.container_status(&fail).await.unwrap().state, ContainerState::Created);
    rt.start_container(&fail).await.expect("StartContainer");
    let ok = rt.create_container(&sid, &s.shell("ok", "true"), &sandbox).await.unwrap();
    rt.start_container(&ok).await.expect("StartContainer");
    let failed = wait_state(rt, &fail, ContainerState::Exited).await;
    assert_eq!((failed.exit_code, failed.reason.as_str()), (3, "Error"));
    // Both times set (containerd may stamp a very short run's start a
    // little after its exit, so no order is asserted).
    assert!(failed.started_at > 0 && failed.finished_at > 0, "{failed:?}");
    let done = wait_state(rt, &ok, ContainerState::Exited).await;
    assert_eq!((done.exit_code, done.reason.as_str()), (0, "Completed"));
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox");
}

/// Environment variables and the working directory reach the process; its
/// stdout and stderr are logged in CRI's format, one full line each.
pub async fn env_working_dir_and_logs(s: &Subject) {
    let rt = &*s.runtime;
    let sandbox = sandbox_config("logs");
    let sid = rt.run_pod_sandbox(&sandbox).await.expect("RunPodSandbox");
    let mut cfg = s.shell("main", "echo hello $GREETING; echo oops >&2; pwd");
    cfg.envs = vec![("GREETING".into(), "world".into())];
    cfg.working_dir = "/tmp".into();
    let cid = rt.create_container(&sid, &cfg, &sandbox).await.expect("CreateContainer");
    rt.start_container(&cid).await.expect("StartContainer");
    let done = wait_state(rt, &cid, ContainerState::Exited).await;
    assert_eq!(done.exit_code, 0, "{done:?}");
    let log = std::fs::read_to_string(&done.log_path)
        .unwrap_or_else(|e| panic!("log {}: {e}", done.log_path));
    let lines = log_lines(&log);
    let texts: Vec<(&str, &str)> = lines.iter().map(|l| (l.stream, l.text)).collect();
    for want in [("stdout", "hello world"), ("stderr", "oops"), ("stdout", "/tmp")] {
        assert!(texts.contains(&want), "{want:?} not in {log:?}");
    }
    for l in &lines {
        assert!(chrono::DateTime::parse_from_rfc3339(l.time).is_ok(), "time of {l:?}");
        assert_eq!(l.tag, "F", "{l:?}");
    }
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox");
}

/// ListContainers filters by sandbox, label and state.
pub async fn list_containers_filters(s: &Subject) {
    let rt = &*s.runtime;
    let (sid, long) = s.running("list", "long", STOPS_ON_TERM).await;
    let sandbox = sandbox_config("list");
    let short = rt.create_container(&sid, &s.shell("short", "true"), &sandbox).await.unwrap();
    rt.start_container(&short).await.expect("StartContainer");
    let (other_sid, _) = s.running("other", "long", STOPS_ON_TERM).await;
    wait_state(rt, &long, ContainerState::Running).await;
    wait_state(rt, &short, ContainerState::Exited).await;
    let ids = |filter: ContainerFilter| async move {
        let mut ids: Vec<String> = rt
            .list_containers(&filter)
            .await
            .expect("ListContainers")
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    };
    let mut both = vec![long.clone(), short.clone()];
    both.sort();
    let in_sandbox = ContainerFilter { pod_sandbox_id: Some(sid.clone()), ..Default::default() };
    assert_eq!(ids(in_sandbox.clone()).await, both, "by sandbox");
    let running = ContainerFilter { state: Some(ContainerState::Running), ..in_sandbox.clone() };
    assert_eq!(ids(running).await, [long], "by sandbox and state");
    let labelled = ContainerFilter {
        label_selector: BTreeMap::from([("orch.io/container".to_string(), "short".to_string())]),
        ..Default::default()
    };
    assert_eq!(ids(labelled).await, [short], "by label");
    assert_eq!(ids(ContainerFilter::default()).await.len(), 3, "all");
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox");
    rt.remove_pod_sandbox(&other_sid).await.expect("RemovePodSandbox");
}

/// StopContainer sends SIGTERM, and SIGKILL once the timeout has passed:
/// a container that stops on SIGTERM exits with its own code, one that
/// ignores it is killed (137) no sooner than the timeout. Stopping an
/// exited container is a no-op.
pub async fn stop_sends_sigterm_then_sigkill_after_the_grace_period(s: &Subject) {
    let rt = &*s.runtime;
    let (sid, polite) = s.running("stop", "polite", STOPS_ON_TERM).await;
    wait_logged(rt, &polite, "trapped").await;
    rt.stop_container(&polite, Duration::from_secs(20)).await.expect("StopContainer");
    let st = rt.container_status(&polite).await.expect("ContainerStatus");
    assert_eq!((st.state, st.exit_code), (ContainerState::Exited, 0), "{st:?}");

    let sandbox = sandbox_config("stop");
    let stubborn =
        rt.create_container(&sid, &s.shell("stubborn", IGNORES_TERM), &sandbox).await.unwrap();
    rt.start_container(&stubborn).await.expect("StartContainer");
    wait_logged(rt, &stubborn, "trapped").await;
    let grace = Duration::from_secs(1);
    let asked = Instant::now();
    rt.stop_container(&stubborn, grace).await.expect("StopContainer");
    assert!(asked.elapsed() >= grace, "killed before the grace period ended");
    let st = rt.container_status(&stubborn).await.expect("ContainerStatus");
    assert_eq!((st.state, st.exit_code), (ContainerState::Exited, 137), "128 + SIGKILL: {st:?}");
    rt.stop_container(&stubborn, grace).await.expect("StopContainer of an exited container");
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox");
}

/// ExecSync runs a command in a running container and returns its stdout,
/// stderr and exit code; a command that outlives its timeout is an error;
/// an unknown container is [`Error::NotFound`].
pub async fn exec_sync_returns_output_and_exit_code(s: &Subject) {
    let rt = &*s.runtime;
    let (sid, cid) = s.running("exec", "main", STOPS_ON_TERM).await;
    wait_state(rt, &cid, ContainerState::Running).await;
    let cmd: Vec<String> =
        ["sh", "-c", "echo out; echo err >&2; exit 7"].iter().map(|s| (*s).to_owned()).collect();
    let r = rt.exec_sync(&cid, &cmd, Duration::from_secs(10)).await.expect("ExecSync");
    assert_eq!(r.exit_code, 7);
    assert_eq!(String::from_utf8_lossy(&r.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
    let slow: Vec<String> = ["sleep", "20"].iter().map(|s| (*s).to_owned()).collect();
    let timed_out = rt.exec_sync(&cid, &slow, Duration::from_millis(300)).await;
    assert!(timed_out.is_err(), "a command past its timeout returned {timed_out:?}");
    let missing = rt.exec_sync("no-such-container", &cmd, Duration::from_secs(5)).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox");
}

/// RemoveContainer is idempotent, and a removed container is
/// [`Error::NotFound`]; RemovePodSandbox stops and removes the containers
/// still in it.
pub async fn remove_is_idempotent_and_takes_the_sandboxs_containers(s: &Subject) {
    let rt = &*s.runtime;
    let (sid, running) = s.running("remove", "running", STOPS_ON_TERM).await;
    let sandbox = sandbox_config("remove");
    let done = rt.create_container(&sid, &s.shell("done", "true"), &sandbox).await.unwrap();
    rt.start_container(&done).await.expect("StartContainer");
    wait_state(rt, &done, ContainerState::Exited).await;
    rt.remove_container(&done).await.expect("RemoveContainer");
    rt.remove_container(&done).await.expect("RemoveContainer of a removed container");
    let gone = rt.container_status(&done).await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    wait_state(rt, &running, ContainerState::Running).await;
    rt.remove_pod_sandbox(&sid).await.expect("RemovePodSandbox with a running container");
    let left = rt.list_containers(&ContainerFilter::default()).await.expect("ListContainers");
    assert!(left.is_empty(), "containers outlived their sandbox: {left:?}");
    let left = rt.list_pod_sandbox(&PodSandboxFilter::default()).await.expect("ListPodSandbox");
    assert!(left.is_empty(), "{left:?}");
}

/// Expands to one `#[tokio::test]` per conformance case. The argument is an
/// expression of a future that yields a [`Subject`](crate::conformance::Subject);
/// it is evaluated once per case. Invoke it inside a module, so the cases'
/// names do not meet the test file's own.
#[macro_export]
macro_rules! runtime_conformance_tests {
    ($make:expr) => {
        $crate::runtime_conformance_tests!(@cases $make;
            sandbox_lifecycle, containers_exit_with_their_codes, env_working_dir_and_logs,
            list_containers_filters, stop_sends_sigterm_then_sigkill_after_the_grace_period,
            exec_sync_returns_output_and_exit_code,
            remove_is_idempotent_and_takes_the_sandboxs_containers);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let subject: $crate::conformance::Subject = $make.await;
                $crate::conformance::$case(&subject).await;
            }
        )*
    };
}
