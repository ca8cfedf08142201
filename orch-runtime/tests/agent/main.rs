//! The node agent with real containers: on the process runtime (real
//! processes), and — with feature `cri` — the same scenarios on CriRuntime
//! against a real containerd (each case starts its own, see `cri_runtime.rs`).
//! Cases written once for both run as `case::process` and `case::cri`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_core::api::{DeleteParams, ListParams};
use orch_core::kinds::pod::{
    Container, ContainerPort, EnvVar, EnvVarSource, ExecAction, HttpGetAction, KeySelector,
    PodPhase, PodSpec, Probe, RestartPolicy,
};
use orch_core::{Api, ByteString, ConfigMap, IntOrString, Lease, Node, ObjectMeta, Pod, Secret};
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_runtime::runtime::{ContainerFilter, ContainerState, PodSandboxFilter, Runtime};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

mod support;

const DEADLINE: Duration = Duration::from_secs(30);
const WEB: &str = env!("CARGO_BIN_EXE_orch-web");

/// What runs the containers.
enum Backend {
    Process(ProcessRuntime),
    /// The containerd, held until the node is dropped.
    #[cfg(feature = "cri")]
    Cri {
        containerd: orch_runtime::testing::ContainerdProcess,
    },
}

struct Node1 {
    store: Arc<MemStore>,
    runtime: Arc<dyn Runtime>,
    backend: Backend,
    stop: CancellationToken,
    agent: Option<tokio::task::JoinHandle<orch_runtime::Result<()>>>,
    config: NodeAgentConfig,
    _dir: tempfile::TempDir,
}

fn agent_config() -> NodeAgentConfig {
    let mut c = NodeAgentConfig::new("node-1").label("topology.kubernetes.io/zone", "zone-a");
    c.resync_interval = Duration::from_millis(50);
    c.renew_interval = Duration::from_millis(200);
    c.backoff_initial = Duration::from_millis(200);
    c.backoff_max = Duration::from_millis(800);
    c
}

impl Node1 {
    /// A node on the process runtime.
    async fn start() -> Node1 {
        let dir = tempfile::tempdir().unwrap();
        let runtime = new_runtime(dir.path());
        Self::with(Arc::new(runtime.clone()), Backend::Process(runtime), dir, agent_config())
    }

    /// A node on CriRuntime and a containerd of its own.
    #[cfg(feature = "cri")]
    async fn start_cri() -> Node1 {
        Self::start_cri_with(&[], Vec::new()).await
    }

    /// A node on CriRuntime whose containerd reaches these registries over
    /// plain HTTP, and whose agent has these registry credentials.
    #[cfg(feature = "cri")]
    async fn start_cri_with(
        registries: &[String],
        credentials: Vec<orch_runtime::runtime::AuthConfig>,
    ) -> Node1 {
        use orch_runtime::cri::CriRuntime;
        use orch_runtime::testing::{ContainerdProcess, ContainerdProcessConfig};
        let dir = tempfile::Builder::new().prefix("orch-cri-agent-").tempdir().unwrap();
        let mut config = ContainerdProcessConfig::new(dir.path().join("containerd"));
        config.plain_http_registries = registries.to_vec();
        let containerd = ContainerdProcess::start_with_busybox_images(config)
            .unwrap_or_else(|e| panic!("containerd did not start with its images: {e}"));
        let config = containerd.runtime_config().call_timeout(Duration::from_secs(30));
        let rt = CriRuntime::connect(config).await.unwrap();
        let config = NodeAgentConfig { registry_credentials: credentials, ..agent_config() };
        Self::with(Arc::new(rt), Backend::Cri { containerd }, dir, config)
    }

    fn with(
        runtime: Arc<dyn Runtime>,
        backend: Backend,
        dir: tempfile::TempDir,
        config: NodeAgentConfig,
    ) -> Node1 {
        let mut n = Node1 {
            store: Arc::new(MemStore::new()),
            runtime,
            backend,
            stop: CancellationToken::new(),
            agent: None,
            config,
            _dir: dir,
        };
        n.spawn_agent();
        n
    }

    fn spawn_agent(&mut self) {
        self.stop = CancellationToken::new();
        let agent = NodeAgent::new(self.store.clone(), self.runtime.clone(), self.config.clone());
        self.agent = Some(tokio::spawn(agent.run(self.stop.clone())));
    }

    async fn stop_agent(&mut self) {
        self.stop.cancel();
        if let Some(a) = self.agent.take() {
            a.await.unwrap().unwrap();
        }
    }

    /// A container running `script` with `sh -c`: on the process runtime
    /// the host's sh, on CRI the busybox image (present, never pulled).
    fn sh(&self, name: &str, script: &str) -> Container {
        let c = sh(name, script);
        match self.backend {
            Backend::Process(_) => c,
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => Container {
                image: orch_runtime::testing::BUSYBOX_IMAGE.into(),
                image_pull_policy: Some("IfNotPresent".into()),
                ..c
            },
        }
    }

    /// A path for a scratch file the container itself writes (the host's
    /// temp dir for processes, the container's /tmp on CRI).
    fn scratch(&self, name: &str) -> String {
        match &self.backend {
            Backend::Process(_) => self._dir.path().join(name).display().to_string(),
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => format!("/tmp/{name}"),
        }
    }

    /// IDs of the running containers, from the runtime.
    async fn running_containers(&self) -> Vec<String> {
        let filter = ContainerFilter { state: Some(ContainerState::Running), ..Default::default() };
        let mut ids: Vec<String> = self
            .runtime
            .list_containers(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }

    /// The messages of the Events with this reason, as "pod: message".
    async fn event_messages(&self, reason: &str) -> Vec<String> {
        let events: Api<orch_core::Event> = Api::namespaced(self.store.clone(), "default");
        let params = ListParams::default().fields(&format!("reason={reason}"));
        let list = events.list(&params).await.unwrap();
        let message = |e: &orch_core::Event| e.message.clone().unwrap_or_default();
        list.items.iter().map(|e| format!("{}: {}", e.involved_object.name, message(e))).collect()
    }

    /// Every container in the runtime, one line each: id, pod, attempt,
    /// state, exit code and reason (for assertion messages).
    async fn describe_containers(&self) -> String {
        let mut lines = Vec::new();
        for c in self.runtime.list_containers(&ContainerFilter::default()).await.unwrap() {
            let s = self.runtime.container_status(&c.id).await.unwrap();
            let pod = s.labels.get(orch_runtime::agent::LABEL_POD_NAME);
            lines.push(format!(
                "{} pod {pod:?} attempt {} {:?} exit {} {} {}",
                s.id, s.metadata.attempt, s.state, s.exit_code, s.reason, s.message
            ));
        }
        lines.join("\n")
    }

    /// Replaces the runtime client, as an agent restart does (same state).
    fn reconnect_runtime(&mut self) {
        match self.backend {
            Backend::Process(_) => {
                let rt = new_runtime(self._dir.path());
                self.runtime = Arc::new(rt.clone());
                self.backend = Backend::Process(rt);
            }
            // The CRI client reconnects by itself; containerd keeps running.
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => {}
        }
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.store.clone(), "default")
    }

    async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while !check().await {
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn pod(&self, name: &str) -> Pod {
        self.pods().get(name).await.unwrap()
    }

    /// Deletes every pod and checks that the runtime has nothing left: no
    /// sandbox, no container (and, on the process runtime, no process).
    async fn delete_all_and_check_no_leftovers(mut self) {
        let pids = match &self.backend {
            Backend::Process(rt) => rt.running_pids(),
            #[cfg(feature = "cri")]
            Backend::Cri { .. } => Vec::new(),
        };
        for p in self.pods().list(&ListParams::default()).await.unwrap().items {
            self.pods().delete(&p.metadata.name, &DeleteParams::default()).await.unwrap();
        }
        self.until("every pod removed", || async {
            self.pods().list(&ListParams::default()).await.unwrap().items.is_empty()
        })
        .await;
        // A terminal pod's object goes at once (grace 0, as Kubernetes); its
        // worker tears the sandbox down after that.
        self.until("no sandbox and no container left in the runtime", || async {
            let rt = &self.runtime;
            rt.list_pod_sandbox(&PodSandboxFilter::default()).await.unwrap().is_empty()
                && rt.list_containers(&ContainerFilter::default()).await.unwrap().is_empty()
        })
        .await;
        self.stop_agent().await;
        let start = Instant::now();
        while !pids.iter().all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            assert!(start.elapsed() < DEADLINE, "processes left behind");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A test that fails before [`Node1::delete_all_and_check_no_leftovers`]
/// must not leave its containers running: on the process runtime they would
/// keep their ports, and a later run of the test could not bind them.
/// (A CRI node's containerd kills its own on drop.)
impl Drop for Node1 {
    fn drop(&mut self) {
        // Without feature `cri` the process runtime is the only backend.
        #[allow(irrefutable_let_patterns)]
        if let Backend::Process(rt) = &self.backend {
            for pid in rt.running_pids() {
                let group = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// One case on both runtimes: `name::process`, and `name::cri` with
/// feature `cri`. `body` takes the started node.
macro_rules! on_both_runtimes {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn process() {
                super::$body(super::Node1::start().await).await
            }
            #[cfg(feature = "cri")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cri() {
                super::$body(super::Node1::start_cri().await).await
            }
        }
    };
}

fn new_runtime(root: &std::path::Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessRuntimeConfig::new(root).image("web:1", &[WEB])).unwrap()
}

fn bound_pod(name: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name),
        spec: PodSpec {
            containers,
            node_name: Some("node-1".into()),
            termination_grace_period_seconds: Some(5),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn web(port: i32) -> Container {
    Container {
        name: "web".into(),
        image: "web:1".into(),
        ports: vec![ContainerPort {
            container_port: port,
            name: Some("http".into()),
            ..Default::default()
        }],
        env: vec![EnvVar { name: "PORT".into(), value: Some(port.to_string()), value_from: None }],
        ..Default::default()
    }
}

/// An httpGet probe of [`web`]'s `/healthz` on its `http` port, every second.
fn healthz_probe() -> Probe {
    Probe {
        http_get: Some(HttpGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(1),
        ..Default::default()
    }
}

fn sh(name: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        image: "sh".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        ..Default::default()
    }
}

fn condition(p: &Pod, type_: &str) -> Option<String> {
    p.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.status.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_registers_its_node_and_renews_its_lease() {
    let n = Node1::start().await;
    n.until("the node registered and ready", || async {
        Api::<Node>::all(n.store.clone()).get_opt("node-1").await.unwrap().is_some_and(|node| {
            let s = node.status.unwrap_or_default();
            s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                && s.allocatable["pods"].as_bytes().unwrap() == 110
                && s.allocatable["cpu"].as_millis().unwrap() >= 1000
                && node.metadata.labels["kubernetes.io/hostname"] == "node-1"
                && node.metadata.labels["topology.kubernetes.io/zone"] == "zone-a"
        })
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(n.store.clone(), "kube-node-lease");
    let first = leases.get("node-1").await.unwrap().spec.renew_time;
    n.until("the lease renewed", || async {
        leases.get("node-1").await.unwrap().spec.renew_time != first
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_pod_runs_and_reports_running_ready_with_its_ip() {
    let n = Node1::start().await;
    let mut c = web(18090);
    c.readiness_probe = Some(healthz_probe());
    n.pods().create(&bound_pod("web-0", vec![c])).await.unwrap();
    n.until("Running and Ready", || async {
        let p = n.pod("web-0").await;
        p.status.as_ref().and_then(|s| s.phase) == Some(PodPhase::Running)
            && condition(&p, "Ready").as_deref() == Some("True")
    })
    .await;
    let p = n.pod("web-0").await;
    let s = p.status.unwrap();
    let ip = s.pod_ip.clone().unwrap();
    assert!(ip.starts_with("127.0.") && ip != "127.0.0.1");
    assert_eq!(s.host_ip.as_deref(), Some("127.0.0.1"));
    let cs = &s.container_statuses[0];
    assert!(cs.ready && cs.state.as_ref().unwrap().running.is_some());
    assert_eq!(cs.restart_count, 0);
    for t in ["Initialized", "ContainersReady", "PodScheduled"] {
        assert_eq!(condition(&n.pod("web-0").await, t).as_deref(), Some("True"), "{t}");
    }
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(a_crash_loop_backs_off_with_growing_delays, crash_loop_case);

async fn crash_loop_case(n: Node1) {
    n.pods().create(&bound_pod("crasher", vec![n.sh("c", "exit 1")])).await.unwrap();
    // When each restart count is first seen: the gaps are the backoff
    // delays (0, 200, 400, 800 ms as configured) plus the run time.
    let mut seen: Vec<(i32, Instant)> = Vec::new();
    let start = Instant::now();
    while seen.last().is_none_or(|(c, _)| *c < 5) {
        assert!(start.elapsed() < DEADLINE, "restarts seen: {seen:?}");
        let p = n.pod("crasher").await;
        if let Some(cs) = p.status.as_ref().and_then(|s| s.container_statuses.first()) {
            if seen.last().is_none_or(|(c, _)| cs.restart_count > *c) {
                seen.push((cs.restart_count, Instant::now()));
            }
            if cs.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref())
                == Some("CrashLoopBackOff")
            {
                assert_eq!(
                    p.status.as_ref().unwrap().phase,
                    Some(PodPhase::Running),
                    "a crash loop is Running, restarting"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Restart k waits out backoff(k) = 0 for the first, then 200 ms doubling,
    // capped at 800 ms, after the previous attempt exited.
    let backoff = |k: i32| if k <= 1 { 0 } else { (200u64 << (k - 2).min(2)).min(800) };
    for w in seen.windows(2) {
        let ((a, ta), (b, tb)) = (w[0], w[1]);
        assert_eq!(b, a + 1, "one restart at a time: {seen:?}");
        let gap = tb - ta;
        assert!(
            gap >= Duration::from_millis(backoff(b).saturating_sub(50)),
            "restart {b} came after {gap:?}: {seen:?}"
        );
    }
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_liveness_probe_restarts_the_container() {
    let n = Node1::start().await;
    let flag = n._dir.path().join("unhealthy");
    let mut c = web(18091);
    c.env.push(EnvVar {
        name: "UNHEALTHY_FILE".into(),
        value: Some(flag.display().to_string()),
        value_from: None,
    });
    c.liveness_probe = Some(Probe {
        http_get: Some(HttpGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::Int(18091),
            ..Default::default()
        }),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Default::default()
    });
    // Ready once it serves, so that the liveness probe fails on the 500.
    c.readiness_probe = Some(healthz_probe());
    n.pods().create(&bound_pod("live", vec![c])).await.unwrap();
    n.until("ready", || async {
        condition(&n.pod("live").await, "Ready").as_deref() == Some("True")
    })
    .await;
    // The liveness probe may also have failed before the server listened
    // (connection refused): count restarts from here.
    let restarts =
        || async { n.pod("live").await.status.unwrap().container_statuses[0].restart_count };
    let before = restarts().await;
    std::fs::write(&flag, "x").unwrap();
    n.until("a restart after the liveness failure", || async { restarts().await > before }).await;
    std::fs::remove_file(&flag).unwrap();
    let p = n.pod("live").await;
    let last = p.status.unwrap().container_statuses[0].last_state.clone().unwrap();
    assert!(last.terminated.is_some(), "the killed attempt is the lastState");
    // Events as the kubelet words them, recorded before the kill and so
    // before the restart seen above.
    for (reason, message) in [
        ("Unhealthy", "live: Liveness probe failed: HTTP probe failed with statuscode: 500"),
        ("Killing", "live: Container web failed liveness probe, will be restarted"),
    ] {
        let messages = n.event_messages(reason).await;
        assert!(messages.iter().any(|m| m == message), "no {message:?} in {messages:?}");
    }
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_drives_the_ready_condition() {
    let n = Node1::start().await;
    let flag = n._dir.path().join("ready");
    let mut c = sh("app", "sleep 60");
    c.readiness_probe = Some(Probe {
        exec: Some(ExecAction {
            command: vec!["test".into(), "-f".into(), flag.display().to_string()],
        }),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Default::default()
    });
    n.pods().create(&bound_pod("gated", vec![c])).await.unwrap();
    n.until("Running but not Ready", || async {
        let p = n.pod("gated").await;
        p.status.as_ref().and_then(|s| s.phase) == Some(PodPhase::Running)
            && condition(&p, "Ready").as_deref() == Some("False")
    })
    .await;
    std::fs::write(&flag, "").unwrap();
    n.until("Ready", || async {
        condition(&n.pod("gated").await, "Ready").as_deref() == Some("True")
    })
    .await;
    std::fs::remove_file(&flag).unwrap();
    n.until("not Ready again", || async {
        condition(&n.pod("gated").await, "Ready").as_deref() == Some("False")
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_deletion_lets_the_sigterm_handler_finish() {
    let n = Node1::start().await;
    let mut c = web(18092);
    c.env.push(EnvVar {
        name: "STOP_DELAY_MS".into(),
        value: Some("300".into()),
        value_from: None,
    });
    // Ready once it serves, which is after it has blocked SIGTERM to wait
    // for it: a SIGTERM before that would kill it at once.
    c.readiness_probe = Some(healthz_probe());
    n.pods().create(&bound_pod("graceful", vec![c])).await.unwrap();
    n.until("ready", || async {
        condition(&n.pod("graceful").await, "Ready").as_deref() == Some("True")
    })
    .await;
    let log_dir = n._dir.path().join("pods");
    let t = Instant::now();
    n.pods().delete("graceful", &DeleteParams::default()).await.unwrap();
    n.until("the pod removed by the agent", || async {
        n.pods().get_opt("graceful").await.unwrap().is_none()
    })
    .await;
    assert!(t.elapsed() >= Duration::from_millis(300), "the grace period was used");
    // The SIGTERM handler ran to completion (its log lines survive the pod).
    let mut found = false;
    for entry in walk(&log_dir) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        found |= text.contains("SIGTERM received") && text.contains("exiting");
    }
    assert!(found, "no log shows a completed SIGTERM handler");
    n.delete_all_and_check_no_leftovers().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_comes_from_configmaps_secrets_and_the_pod() {
    let n = Node1::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(n.store.clone(), "default");
    let mut cm = ConfigMap { metadata: ObjectMeta::named("cfg"), ..Default::default() };
    cm.data.insert("LEVEL".into(), "debug".into());
    cms.create(&cm).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(n.store.clone(), "default");
    let mut s = Secret { metadata: ObjectMeta::named("creds"), ..Default::default() };
    s.data.insert("password".into(), ByteString(b"hunter2".to_vec()));
    secrets.create(&s).await.unwrap();
    let from = |cm: Option<(&str, &str)>, secret: Option<(&str, &str)>, field: Option<&str>| {
        EnvVarSource {
            config_map_key_ref: cm.map(|(n, k)| KeySelector {
                name: n.into(),
                key: k.into(),
                optional: None,
            }),
            secret_key_ref: secret.map(|(n, k)| KeySelector {
                name: n.into(),
                key: k.into(),
                optional: None,
            }),
            field_ref: field.map(|f| orch_core::kinds::pod::ObjectFieldSelector {
                api_version: None,
                field_path: f.into(),
            }),
        }
    };
    let mut c = sh("env", "echo level=$LEVEL pw=$PW name=$NAME ip=$IP; sleep 60");
    c.env = vec![
        EnvVar {
            name: "LEVEL".into(),
            value: None,
            value_from: Some(from(Some(("cfg", "LEVEL")), None, None)),
        },
        EnvVar {
            name: "PW".into(),
            value: None,
            value_from: Some(from(None, Some(("creds", "password")), None)),
        },
        EnvVar {
            name: "NAME".into(),
            value: None,
            value_from: Some(from(None, None, Some("metadata.name"))),
        },
        EnvVar {
            name: "IP".into(),
            value: None,
            value_from: Some(from(None, None, Some("status.podIP"))),
        },
    ];
    n.pods().create(&bound_pod("envy", vec![c])).await.unwrap();
    n.until("running", || async {
        n.pod("envy").await.status.and_then(|s| s.phase) == Some(PodPhase::Running)
    })
    .await;
    let ip = n.pod("envy").await.status.unwrap().pod_ip.unwrap();
    let want = format!("level=debug pw=hunter2 name=envy ip={ip}");
    n.until("the env in the log", || async {
        walk(&n._dir.path().join("pods"))
            .iter()
            .any(|f| std::fs::read_to_string(f).unwrap_or_default().contains(&want))
    })
    .await;

    // A missing ConfigMap key holds the container with a clear reason.
    let mut bad = sh("bad", "sleep 60");
    bad.env = vec![EnvVar {
        name: "X".into(),
        value: None,
        value_from: Some(from(Some(("nope", "X")), None, None)),
    }];
    n.pods().create(&bound_pod("missing-config", vec![bad])).await.unwrap();
    n.until("CreateContainerConfigError", || async {
        n.pod("missing-config").await.status.is_some_and(|s| {
            s.container_statuses
                .first()
                .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
                .as_deref()
                == Some("CreateContainerConfigError")
        })
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(a_restarted_agent_adopts_running_containers_without_duplicates, adopt_case);

async fn adopt_case(mut n: Node1) {
    let script = "trap 'exit 0' TERM; sleep 60 & wait";
    n.pods().create(&bound_pod("steady", vec![n.sh("main", script)])).await.unwrap();
    n.until("running", || async {
        n.pod("steady").await.status.and_then(|s| s.phase) == Some(PodPhase::Running)
    })
    .await;
    let running = n.running_containers().await;
    assert_eq!(running.len(), 1);
    n.stop_agent().await;
    // A new runtime client over the same state, and a new agent.
    n.reconnect_runtime();
    n.spawn_agent();
    // Let the new agent sync many times: two lease renewals (200 ms apart)
    // span several pod resyncs (50 ms apart).
    let leases: Api<Lease> = Api::namespaced(n.store.clone(), "kube-node-lease");
    for _ in 0..3 {
        let seen = leases.get("node-1").await.unwrap().metadata.resource_version;
        n.until("a lease renewal", || async {
            leases.get("node-1").await.unwrap().metadata.resource_version != seen
        })
        .await;
    }
    assert_eq!(n.running_containers().await, running, "the same container, not a second one");
    let p = n.pod("steady").await;
    assert_eq!(p.status.unwrap().container_statuses[0].restart_count, 0);
    n.delete_all_and_check_no_leftovers().await;
}

/// Stopping the agent leaves its containers alone, even when it stops while
/// its pod workers are busy: 20 restarts, each stopped as soon as the new
/// agent has renewed its lease (its workers then adopt the pods), never
/// stop or replace a container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_busy_agent_leaves_every_container_running() {
    let mut n = Node1::start().await;
    let script = "trap 'exit 0' TERM; sleep 60 & wait";
    for i in 0..8 {
        n.pods().create(&bound_pod(&format!("p{i}"), vec![n.sh("main", script)])).await.unwrap();
    }
    n.until("8 running", || async { n.running_containers().await.len() == 8 }).await;
    let running = n.running_containers().await;
    let leases: Api<Lease> = Api::namespaced(n.store.clone(), "kube-node-lease");
    for round in 0..20 {
        n.stop_agent().await;
        let seen = leases.get("node-1").await.unwrap().metadata.resource_version;
        n.spawn_agent();
        n.until("the new agent's lease renewal", || async {
            leases.get("node-1").await.unwrap().metadata.resource_version != seen
        })
        .await;
        let now = n.running_containers().await;
        assert_eq!(now, running, "round {round}:\n{}", n.describe_containers().await);
    }
    n.stop_agent().await;
    assert_eq!(n.running_containers().await, running, "after the last stop");
    n.spawn_agent();
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(restart_policies_decide_what_restarts, restart_policy_case);

async fn restart_policy_case(n: Node1) {
    let mut never = bound_pod("never", vec![n.sh("c", "exit 2")]);
    never.spec.restart_policy = Some(RestartPolicy::Never);
    let mut on_failure = bound_pod("done", vec![n.sh("c", "exit 0")]);
    on_failure.spec.restart_policy = Some(RestartPolicy::OnFailure);
    n.pods().create(&never).await.unwrap();
    n.pods().create(&on_failure).await.unwrap();
    n.until("Failed and Succeeded", || async {
        n.pod("never").await.status.and_then(|s| s.phase) == Some(PodPhase::Failed)
            && n.pod("done").await.status.and_then(|s| s.phase) == Some(PodPhase::Succeeded)
    })
    .await;
    let p = n.pod("never").await.status.unwrap();
    let t = p.container_statuses[0].state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!((t.exit_code, p.container_statuses[0].restart_count), (2, 0));
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(a_failing_exec_liveness_probe_restarts_the_container, exec_liveness_case);

/// The container marks itself healthy, then unhealthy a second later; the
/// exec liveness probe (`test -f`, through ExecSync on CRI) restarts it.
async fn exec_liveness_case(n: Node1) {
    let flag = n.scratch("healthy");
    let script =
        format!("touch {flag}; sleep 1; rm -f {flag}; trap 'exit 0' TERM; sleep 60 & wait");
    let mut c = n.sh("app", &script);
    c.liveness_probe = Some(Probe {
        exec: Some(ExecAction { command: vec!["test".into(), "-f".into(), flag.clone()] }),
        initial_delay_seconds: Some(0),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Default::default()
    });
    n.pods().create(&bound_pod("live-exec", vec![c])).await.unwrap();
    n.until("a restart after the liveness failure", || async {
        n.pod("live-exec")
            .await
            .status
            .is_some_and(|s| s.container_statuses.first().is_some_and(|c| c.restart_count >= 1))
    })
    .await;
    let p = n.pod("live-exec").await;
    let cs = &p.status.unwrap().container_statuses[0];
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    assert!(last.is_some(), "the killed attempt is the lastState: {cs:?}");
    // Recorded before the kill. `test` prints nothing: the message is the
    // command and its exit code.
    let want = "live-exec: Liveness probe failed: command [\"test\", \"-f\"";
    let unhealthy = n.event_messages("Unhealthy").await;
    assert!(
        unhealthy.iter().any(|m| m.starts_with(want) && m.ends_with("exited with 1")),
        "{unhealthy:?}"
    );
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(a_container_is_not_ready_until_its_readiness_probe_passes, readiness_case);

/// A running container with a readiness probe is not Ready until the probe
/// passes (Kubernetes): no version of the pod says Ready while the probe's
/// file is missing, an Unhealthy Event says why, and the pod turns Ready
/// once the file exists.
async fn readiness_case(n: Node1) {
    use futures::StreamExt;
    use orch_core::api::WatchEvent;
    use orch_core::api::WatchParams;
    let flag = n.scratch("ready");
    let mut c = n.sh("app", "trap 'exit 0' TERM; sleep 60 & wait");
    c.readiness_probe = Some(Probe {
        exec: Some(ExecAction { command: vec!["test".into(), "-f".into(), flag.clone()] }),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Default::default()
    });
    let created = n.pods().create(&bound_pod("gated", vec![c])).await.unwrap();
    n.until("an Unhealthy Event for the readiness probe", || async {
        let unhealthy = n.event_messages("Unhealthy").await;
        unhealthy.iter().any(|m| m.starts_with("gated: Readiness probe failed: "))
    })
    .await;
    // Every version of the pod written so far, then the file.
    let before: u64 =
        n.pods().list(&ListParams::default()).await.unwrap().resource_version.parse().unwrap();
    let running = n.running_containers().await;
    assert_eq!(running.len(), 1, "{}", n.describe_containers().await);
    let touch = ["touch".to_string(), flag.clone()];
    let out = n.runtime.exec_sync(&running[0], &touch, Duration::from_secs(10)).await.unwrap();
    assert_eq!(out.exit_code, 0, "touch {flag}: {out:?}");
    let params = WatchParams::default();
    let mut watch = n.pods().watch(&params, &created.metadata.resource_version).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let event = tokio::time::timeout_at(deadline, watch.next()).await;
        let Ok(Some(Ok(WatchEvent::Modified(p)))) = event else {
            assert!(matches!(event, Ok(Some(Ok(_)))), "no Ready pod on the watch: {event:?}");
            continue;
        };
        let rv: u64 = p.metadata.resource_version.parse().unwrap();
        let ready = condition(&p, "Ready").as_deref() == Some("True");
        assert!(!(ready && rv <= before), "Ready before the probe passed: {:?}", p.status);
        if ready {
            break;
        }
    }
    n.delete_all_and_check_no_leftovers().await;
}

/// The waiting reason of a pod's first container, if any.
#[cfg(feature = "cri")]
async fn waiting_reason(n: &Node1, pod: &str) -> Option<String> {
    let p = n.pods().get_opt(pod).await.unwrap()?;
    p.status?.container_statuses.first()?.state.as_ref()?.waiting.as_ref()?.reason.clone()
}

#[cfg(feature = "cri")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cri_a_busybox_httpd_pod_serves_on_the_node_network() {
    use std::io::{Read, Write};
    let n = Node1::start_cri().await;
    let port = 18190;
    let mut c = n.sh("web", &format!("exec httpd -f -p {port} -h /var/www"));
    c.readiness_probe = Some(Probe {
        http_get: Some(HttpGetAction {
            path: Some("/index.html".into()),
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        period_seconds: Some(1),
        ..Default::default()
    });
    n.pods().create(&bound_pod("httpd", vec![c])).await.unwrap();
    n.until("Running and Ready", || async {
        let p = n.pod("httpd").await;
        p.status.as_ref().and_then(|s| s.phase) == Some(PodPhase::Running)
            && condition(&p, "Ready").as_deref() == Some("True")
    })
    .await;
    let s = n.pod("httpd").await.status.unwrap();
    // No CNI config: the sandbox shares the node's network, so the pod IP
    // is the node's.
    assert_eq!(s.pod_ip.as_deref(), Some("127.0.0.1"));
    let cs = &s.container_statuses[0];
    assert!(cs.container_id.as_deref().is_some_and(|id| id.starts_with("containerd://")), "{cs:?}");
    let mut conn = match std::net::TcpStream::connect(("127.0.0.1", port as u16)) {
        Ok(conn) => conn,
        Err(e) => panic!(
            "the Ready pod does not answer on port {port}: {e}\npod status: {:?}\n{}",
            n.pod("httpd").await.status,
            n.describe_containers().await
        ),
    };
    conn.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    conn.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.") && body.ends_with("orch busybox\n"), "{body}");
    n.delete_all_and_check_no_leftovers().await;
}

#[cfg(feature = "cri")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cri_image_pull_policies_are_honoured() {
    let n = Node1::start_cri().await;
    // Never, image absent: the container waits with ErrImageNeverPull.
    let mut never = n.sh("c", "sleep 60");
    never.image = "localhost/absent:1".into();
    never.image_pull_policy = Some("Never".into());
    n.pods().create(&bound_pod("never-pull", vec![never])).await.unwrap();
    // Always (the default for :latest): a pull, which fails here (no
    // registry answers), then backs off.
    let mut always = n.sh("c", "sleep 60");
    always.image_pull_policy = None;
    n.pods().create(&bound_pod("always-pull", vec![always])).await.unwrap();
    n.until("ErrImageNeverPull", || async {
        waiting_reason(&n, "never-pull").await.as_deref() == Some("ErrImageNeverPull")
    })
    .await;
    let mut reasons = std::collections::BTreeSet::new();
    let start = Instant::now();
    while !reasons.contains("ImagePullBackOff") {
        assert!(start.elapsed() < DEADLINE, "waiting reasons seen: {reasons:?}");
        if let Some(r) = waiting_reason(&n, "always-pull").await {
            reasons.insert(r);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failed = n.event_messages("Failed").await;
    assert!(
        failed.iter().any(
            |m| m.starts_with("always-pull: Failed to pull image \"localhost/busybox:latest\"")
        ),
        "no Failed event for the pull: {failed:?}"
    );
    assert!(n.running_containers().await.is_empty(), "nothing ran without its image");
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(a_restarted_agent_removes_only_its_own_orphans, orphan_case);

/// A pod deleted while its agent was down loses its sandbox when the agent
/// comes back; a sandbox another node's agent made on the same runtime is
/// left alone, and so is the pod that still exists.
async fn orphan_case(mut n: Node1) {
    use orch_runtime::agent::{LABEL_NODE_NAME, LABEL_POD_UID};
    use orch_runtime::runtime::{PodSandboxConfig, PodSandboxMetadata};
    let script = "trap 'exit 0' TERM; sleep 60 & wait";
    for name in ["gone", "kept"] {
        n.pods().create(&bound_pod(name, vec![n.sh("main", script)])).await.unwrap();
    }
    n.until("both running", || async { n.running_containers().await.len() == 2 }).await;
    let kept_before = n.running_containers().await;
    let gone_uid = n.pod("gone").await.metadata.uid;
    n.stop_agent().await;
    let force = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    n.pods().delete("gone", &force).await.unwrap();
    let other_node = PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: "elsewhere".into(),
            uid: "uid-elsewhere".into(),
            namespace: "default".into(),
            attempt: 0,
        },
        labels: [
            (LABEL_NODE_NAME.to_string(), "node-2".to_string()),
            (LABEL_POD_UID.to_string(), "uid-elsewhere".to_string()),
        ]
        .into(),
        ..Default::default()
    };
    let foreign = n.runtime.run_pod_sandbox(&other_node).await.unwrap();
    n.reconnect_runtime();
    n.spawn_agent();
    let sandbox_of = |uid: &str| PodSandboxFilter {
        label_selector: [(LABEL_POD_UID.to_string(), uid.to_string())].into(),
        ..Default::default()
    };
    n.until("the deleted pod's sandbox removed", || async {
        n.runtime.list_pod_sandbox(&sandbox_of(&gone_uid)).await.unwrap().is_empty()
    })
    .await;
    let left = n.runtime.list_pod_sandbox(&sandbox_of("uid-elsewhere")).await.unwrap();
    assert_eq!(left.len(), 1, "another node's sandbox was removed");
    let kept_now = n.running_containers().await;
    assert!(
        kept_now.len() == 1 && kept_before.contains(&kept_now[0]),
        "the kept pod's container still runs: before {kept_before:?}, now {kept_now:?}\n{}",
        n.describe_containers().await
    );
    n.runtime.stop_pod_sandbox(&foreign).await.unwrap();
    n.runtime.remove_pod_sandbox(&foreign).await.unwrap();
    n.delete_all_and_check_no_leftovers().await;
}

/// The pod's resources reach the container's cgroup through the agent:
/// the cpu request as shares, the cpu limit as a CFS quota, the memory
/// limit as the memory limit (read inside the container with ExecSync).
#[cfg(feature = "cri")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cri_pod_resources_reach_the_containers_cgroup() {
    use orch_core::kinds::pod::ResourceRequirements;
    use orch_core::Quantity;
    let n = Node1::start_cri().await;
    let mut c = n.sh("app", "trap 'exit 0' TERM; sleep 60 & wait");
    c.resources = Some(ResourceRequirements {
        requests: [("cpu".to_string(), Quantity::from("250m"))].into(),
        limits: [
            ("cpu".to_string(), Quantity::from("500m")),
            ("memory".to_string(), Quantity::from("64Mi")),
        ]
        .into(),
    });
    n.pods().create(&bound_pod("limited", vec![c])).await.unwrap();
    n.until("running", || async { n.running_containers().await.len() == 1 }).await;
    let id = n.running_containers().await.remove(0);
    let (memory, quota, period, shares) = support::cgroup_limits(&*n.runtime, &id).await;
    assert_eq!((memory.as_str(), quota.as_str(), period.as_str()), ("67108864", "50000", "100000"));
    // 250 millicores: 250 * 1024 / 1000 shares, as the kubelet (cgroup v1).
    assert!(shares.as_deref().is_none_or(|s| s == "256"), "{shares:?}");
    n.delete_all_and_check_no_leftovers().await;
}

/// A pod whose image is only in a registry that wants a login: the agent
/// pulls it with the node's credentials for that registry and runs it.
#[cfg(feature = "cri")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cri_a_pod_pulls_its_image_with_the_nodes_registry_credentials() {
    use orch_runtime::runtime::AuthConfig;
    use orch_runtime::testing::BusyboxImage;
    let dir = tempfile::tempdir().unwrap();
    let registry = support::registry::Registry::start(&dir.path().join("registry"), "node", "pw");
    let credentials = vec![AuthConfig {
        username: "node".into(),
        password: "pw".into(),
        server_address: registry.host.clone(),
    }];
    let n = Node1::start_cri_with(std::slice::from_ref(&registry.host), credentials).await;
    let Backend::Cri { containerd } = &n.backend else { unreachable!("a CRI node") };
    let tarball = dir.path().join("app.tar");
    let image = orch_runtime::testing::BUSYBOX_IMAGE;
    BusyboxImage::new(image).write_tarball(&tarball).unwrap();
    let reference = format!("{}/team/app:2", registry.host);
    containerd.push_image(&tarball, image, &reference, Some(("node", "pw"))).unwrap();

    let mut c = n.sh("app", "trap 'exit 0' TERM; sleep 60 & wait");
    c.image = reference.clone();
    c.image_pull_policy = None; // a tag, so IfNotPresent: absent, so pulled
    n.pods().create(&bound_pod("pulled", vec![c])).await.unwrap();
    n.until("Running", || async {
        n.pod("pulled").await.status.and_then(|s| s.phase) == Some(PodPhase::Running)
    })
    .await;
    let pulled = n.event_messages("Pulled").await;
    let want = format!("pulled: Successfully pulled image \"{reference}\"");
    assert!(
        pulled.iter().any(|m| m.starts_with(&want)),
        "no Pulled event for {reference}: {pulled:?}"
    );
    n.delete_all_and_check_no_leftovers().await;
}
