//! Liveness, readiness and startup probes (exec, httpGet over HTTP and
//! HTTPS, tcpSocket): a failing liveness probe restarts the container,
//! readiness drives the Ready condition, startup holds both until it passes.

use std::time::Duration;

use orch_core::api::ListParams;
use orch_core::kinds::pod::{EnvVar, ExecAction, HttpGetAction, PodPhase, Probe};
use orch_core::testing::{wait_for, wait_until};
use orch_core::IntOrString;

use crate::{bound_pod, condition, healthz_probe, sh, web, Node1, DEADLINE};

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
    wait_until("ready", DEADLINE, || async {
        condition(&n.pod("live").await, "Ready").as_deref() == Some("True")
    })
    .await;
    // The liveness probe may also have failed before the server listened
    // (connection refused): count restarts from here.
    let restarts =
        || async { n.pod("live").await.status.unwrap().container_statuses[0].restart_count };
    let before = restarts().await;
    std::fs::write(&flag, "x").unwrap();
    wait_until("a restart after the liveness failure", DEADLINE, || async {
        restarts().await > before
    })
    .await;
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
    wait_until("Running but not Ready", DEADLINE, || async {
        let p = n.pod("gated").await;
        p.status.as_ref().and_then(|s| s.phase) == Some(PodPhase::Running)
            && condition(&p, "Ready").as_deref() == Some("False")
    })
    .await;
    std::fs::write(&flag, "").unwrap();
    wait_until("Ready", DEADLINE, || async {
        condition(&n.pod("gated").await, "Ready").as_deref() == Some("True")
    })
    .await;
    std::fs::remove_file(&flag).unwrap();
    wait_until("not Ready again", DEADLINE, || async {
        condition(&n.pod("gated").await, "Ready").as_deref() == Some("False")
    })
    .await;
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
    wait_until("a restart after the liveness failure", DEADLINE, || async {
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
    use futures::{FutureExt, StreamExt};
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
    wait_until("an Unhealthy Event for the readiness probe", DEADLINE, || async {
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
    // Each check takes every version the watch has delivered since the last.
    let mut last = None;
    wait_for("a Ready pod on the watch", DEADLINE, || {
        while let Some(event) = watch.next().now_or_never() {
            let Some(Ok(WatchEvent::Modified(p))) = event else {
                assert!(matches!(event, Some(Ok(_))), "no Ready pod on the watch: {event:?}");
                continue;
            };
            let rv: u64 = p.metadata.resource_version.parse().unwrap();
            let ready = condition(&p, "Ready").as_deref() == Some("True");
            assert!(!(ready && rv <= before), "Ready before the probe passed: {:?}", p.status);
            if ready {
                return std::future::ready(Ok(()));
            }
            last = p.status;
        }
        std::future::ready(Err(format!("the last version's status: {last:?}")))
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

/// A readiness probe of the pod's container against a server the test runs
/// on loopback.
fn probe_at(action: Probe) -> Probe {
    Probe { period_seconds: Some(1), failure_threshold: Some(1), ..action }
}

async fn ready_is(n: &Node1, pod: &str, want: &str) {
    wait_until(format!("{pod} Ready={want}"), DEADLINE, || async {
        condition(&n.pod(pod).await, "Ready").as_deref() == Some(want)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_readiness_probe_follows_the_listener() {
    let n = Node1::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = tokio::spawn(async move {
        loop {
            let _ = listener.accept().await;
        }
    });
    let mut c = sh("app", "sleep 60");
    c.readiness_probe = Some(probe_at(Probe {
        tcp_socket: Some(orch_core::kinds::pod::TcpSocketAction {
            port: IntOrString::Int(i32::from(port)),
            host: Some("127.0.0.1".into()),
        }),
        ..Default::default()
    }));
    n.pods().create(&bound_pod("tcp", vec![c])).await.unwrap();
    ready_is(&n, "tcp", "True").await;
    // The listener goes: connections are refused, the pod is not Ready.
    accepting.abort();
    let _ = accepting.await;
    ready_is(&n, "tcp", "False").await;
    let unhealthy = n.event_messages("Unhealthy").await;
    assert!(
        unhealthy.iter().any(|m| m.contains(&format!("dial tcp 127.0.0.1:{port}"))),
        "{unhealthy:?}"
    );
    n.delete_all_and_check_no_leftovers().await;
}

/// An HTTPS server with a self-signed certificate (rcgen) answering 200 to
/// every request; the count of requests it answered.
async fn https_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = [0u8; 1024];
                let _ = tls.read(&mut buf).await;
                if tls.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok").await.is_ok() {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_probe_speaks_tls_without_verifying_the_certificate() {
    let n = Node1::start().await;
    let (port, served) = https_server().await;
    let https = |scheme: &str| {
        probe_at(Probe {
            http_get: Some(HttpGetAction {
                port: IntOrString::Int(i32::from(port)),
                host: Some("127.0.0.1".into()),
                scheme: Some(scheme.into()),
                ..Default::default()
            }),
            ..Default::default()
        })
    };
    let mut c = sh("app", "sleep 60");
    c.readiness_probe = Some(https("HTTPS"));
    n.pods().create(&bound_pod("tls", vec![c])).await.unwrap();
    ready_is(&n, "tls", "True").await;
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // Plain HTTP to the same server is not an HTTP answer: not Ready.
    let mut plain = sh("app", "sleep 60");
    plain.readiness_probe = Some(https("HTTP"));
    n.pods().create(&bound_pod("plain", vec![plain])).await.unwrap();
    wait_until("an Unhealthy Event for the plain probe", DEADLINE, || async {
        let unhealthy = n.event_messages("Unhealthy").await;
        unhealthy.iter().any(|m| {
            m.starts_with(&format!(
                "plain: Readiness probe failed: Get \"http://127.0.0.1:{port}/\""
            ))
        })
    })
    .await;
    assert_eq!(condition(&n.pod("plain").await, "Ready").as_deref(), Some("False"));
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_holds_readiness_and_liveness_until_it_passes() {
    let n = Node1::start().await;
    let started = n._dir.path().join("started");
    let mut c = sh("app", "sleep 60");
    c.startup_probe = Some(Probe {
        exec: Some(ExecAction {
            command: vec!["test".into(), "-f".into(), started.display().to_string()],
        }),
        period_seconds: Some(1),
        failure_threshold: Some(60),
        ..Default::default()
    });
    // A liveness probe that would kill it at once, were it run before startup.
    c.liveness_probe = Some(Probe {
        exec: Some(ExecAction { command: vec!["false".into()] }),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Default::default()
    });
    n.pods().create(&bound_pod("slow-start", vec![c])).await.unwrap();
    wait_until("an Unhealthy Event for the startup probe", DEADLINE, || async {
        let unhealthy = n.event_messages("Unhealthy").await;
        unhealthy.iter().any(|m| m.starts_with("slow-start: Startup probe failed: "))
    })
    .await;
    let p = n.pod("slow-start").await;
    let cs = &p.status.as_ref().unwrap().container_statuses[0];
    assert_eq!((cs.restart_count, cs.ready, cs.started), (0, false, Some(false)), "{cs:?}");
    let liveness = n.event_messages("Unhealthy").await;
    assert!(!liveness.iter().any(|m| m.contains("Liveness")), "liveness ran early: {liveness:?}");

    // Startup passes: the container is started and Ready; liveness runs
    // from then on and restarts it.
    std::fs::write(&started, "").unwrap();
    wait_until("a restart by the liveness probe after startup", DEADLINE, || async {
        let p = n.pod("slow-start").await;
        p.status.is_some_and(|s| s.container_statuses.first().is_some_and(|c| c.restart_count >= 1))
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_past_its_failure_threshold_restarts_the_container() {
    let n = Node1::start().await;
    let mut c = sh("app", "trap 'exit 0' TERM; sleep 60 & wait");
    c.startup_probe = Some(Probe {
        exec: Some(ExecAction { command: vec!["false".into()] }),
        period_seconds: Some(1),
        failure_threshold: Some(2),
        ..Default::default()
    });
    n.pods().create(&bound_pod("never-starts", vec![c])).await.unwrap();
    wait_until("a restart after the startup probe's failures", DEADLINE, || async {
        let p = n.pod("never-starts").await;
        p.status.is_some_and(|s| s.container_statuses.first().is_some_and(|c| c.restart_count >= 1))
    })
    .await;
    let p = n.pod("never-starts").await;
    assert_eq!(condition(&p, "Ready").as_deref(), Some("False"));
    n.delete_all_and_check_no_leftovers().await;
}
