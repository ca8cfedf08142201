//! A pod's life on the node: it runs and reports its IP, takes its env
//! from ConfigMaps, Secrets and itself, restarts with backoff or not as its
//! policy says, and is deleted gracefully.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use orch_core::api::DeleteParams;
use orch_core::kinds::pod::{EnvVar, EnvVarSource, KeySelector, PodPhase, RestartPolicy};
use orch_core::testing::{wait_for, wait_until};
use orch_core::{Api, ByteString, ConfigMap, ObjectMeta, Secret};

use crate::{bound_pod, condition, healthz_probe, sh, web, Node1, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_pod_runs_and_reports_running_ready_with_its_ip() {
    let n = Node1::start().await;
    let mut c = web(18090);
    c.readiness_probe = Some(healthz_probe());
    n.pods().create(&bound_pod("web-0", vec![c])).await.unwrap();
    n.running_and_ready("web-0").await;
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
    let seen: RefCell<Vec<(i32, Instant)>> = RefCell::default();
    wait_for("restart 5", DEADLINE, || async {
        let p = n.pod("crasher").await;
        let mut seen = seen.borrow_mut();
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
        if seen.last().is_some_and(|(c, _)| *c >= 5) {
            Ok(())
        } else {
            Err(format!("restarts seen: {seen:?}"))
        }
    })
    .await;
    let seen = seen.into_inner();
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
    wait_until("ready", DEADLINE, || async {
        condition(&n.pod("graceful").await, "Ready").as_deref() == Some("True")
    })
    .await;
    let log_dir = n._dir.path().join("pods");
    let t = Instant::now();
    n.pods().delete("graceful", &DeleteParams::default()).await.unwrap();
    wait_until("the pod removed by the agent", DEADLINE, || async {
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
    wait_until("running", DEADLINE, || async {
        n.pod("envy").await.status.and_then(|s| s.phase) == Some(PodPhase::Running)
    })
    .await;
    let ip = n.pod("envy").await.status.unwrap().pod_ip.unwrap();
    let want = format!("level=debug pw=hunter2 name=envy ip={ip}");
    wait_until("the env in the log", DEADLINE, || async {
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
    wait_until("CreateContainerConfigError", DEADLINE, || async {
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

on_both_runtimes!(restart_policies_decide_what_restarts, restart_policy_case);

async fn restart_policy_case(n: Node1) {
    let mut never = bound_pod("never", vec![n.sh("c", "exit 2")]);
    never.spec.restart_policy = Some(RestartPolicy::Never);
    let mut on_failure = bound_pod("done", vec![n.sh("c", "exit 0")]);
    on_failure.spec.restart_policy = Some(RestartPolicy::OnFailure);
    n.pods().create(&never).await.unwrap();
    n.pods().create(&on_failure).await.unwrap();
    wait_until("Failed and Succeeded", DEADLINE, || async {
        n.pod("never").await.status.and_then(|s| s.phase) == Some(PodPhase::Failed)
            && n.pod("done").await.status.and_then(|s| s.phase) == Some(PodPhase::Succeeded)
    })
    .await;
    let p = n.pod("never").await.status.unwrap();
    let t = p.container_statuses[0].state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!((t.exit_code, p.container_statuses[0].restart_count), (2, 0));
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_from_takes_every_key_with_its_prefix_and_env_overrides_it() {
    use orch_core::kinds::pod::{EnvFromRef, EnvFromSource};
    let n = Node1::start().await;
    let mut cm = ConfigMap { metadata: ObjectMeta::named("app-cfg"), ..Default::default() };
    cm.data.insert("LEVEL".into(), "info".into());
    cm.data.insert("MODE".into(), "fast".into());
    Api::<ConfigMap>::namespaced(n.store.clone(), "default").create(&cm).await.unwrap();
    let mut s = Secret { metadata: ObjectMeta::named("creds"), ..Default::default() };
    s.data.insert("password".into(), ByteString(b"hunter2".to_vec()));
    Api::<Secret>::namespaced(n.store.clone(), "default").create(&s).await.unwrap();
    let reference = |name: &str, optional| EnvFromRef { name: name.into(), optional };
    let mut c = sh("env", "echo level=$APP_LEVEL mode=$APP_MODE pw=$password; sleep 60");
    c.env_from = vec![
        EnvFromSource {
            prefix: Some("APP_".into()),
            config_map_ref: Some(reference("app-cfg", None)),
            secret_ref: None,
        },
        EnvFromSource {
            prefix: None,
            config_map_ref: None,
            secret_ref: Some(reference("creds", None)),
        },
        // Optional and missing: adds nothing.
        EnvFromSource {
            prefix: None,
            config_map_ref: Some(reference("absent", Some(true))),
            secret_ref: None,
        },
    ];
    c.env = vec![EnvVar { name: "APP_MODE".into(), value: Some("slow".into()), value_from: None }];
    n.pods().create(&bound_pod("from", vec![c])).await.unwrap();
    let want = "level=info mode=slow pw=hunter2";
    wait_until("the env in the log", DEADLINE, || async {
        walk(&n._dir.path().join("pods"))
            .iter()
            .any(|f| std::fs::read_to_string(f).unwrap_or_default().contains(want))
    })
    .await;

    // A missing ConfigMap that is not optional holds the container.
    let mut bad = sh("bad", "sleep 60");
    bad.env_from = vec![EnvFromSource {
        prefix: None,
        config_map_ref: Some(reference("nope", None)),
        secret_ref: None,
    }];
    n.pods().create(&bound_pod("from-missing", vec![bad])).await.unwrap();
    wait_for("CreateContainerConfigError", DEADLINE, || async {
        let p = n.pod("from-missing").await;
        let waiting =
            p.status.and_then(|s| s.container_statuses.first()?.state.as_ref()?.waiting.clone());
        match waiting {
            Some(w) if w.reason.as_deref() == Some("CreateContainerConfigError") => {
                assert_eq!(w.message.as_deref(), Some("configmap \"nope\" not found"));
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}
