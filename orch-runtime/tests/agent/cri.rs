//! Cases only CriRuntime runs, on a containerd of their own: a busybox
//! httpd on the node's network, image pull policies and pulls with the
//! node's registry credentials, pod resources in the container's cgroup.

use std::cell::RefCell;

use orch_core::kinds::pod::{HttpGetAction, PodPhase, Probe};
use orch_core::testing::{wait_for, wait_until};
use orch_core::IntOrString;

use crate::{bound_pod, support, Backend, Node1, DEADLINE};

/// The waiting reason of a pod's first container, if any.
async fn waiting_reason(n: &Node1, pod: &str) -> Option<String> {
    let p = n.pods().get_opt(pod).await.unwrap()?;
    p.status?.container_statuses.first()?.state.as_ref()?.waiting.as_ref()?.reason.clone()
}

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
    n.running_and_ready("httpd").await;
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
    wait_until("ErrImageNeverPull", DEADLINE, || async {
        waiting_reason(&n, "never-pull").await.as_deref() == Some("ErrImageNeverPull")
    })
    .await;
    let reasons = RefCell::new(std::collections::BTreeSet::new());
    wait_for("ImagePullBackOff", DEADLINE, || async {
        let reason = waiting_reason(&n, "always-pull").await;
        let mut reasons = reasons.borrow_mut();
        reasons.extend(reason);
        if reasons.contains("ImagePullBackOff") {
            Ok(())
        } else {
            Err(format!("waiting reasons seen: {reasons:?}"))
        }
    })
    .await;
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

/// The pod's resources reach the container's cgroup through the agent:
/// the cpu request as shares, the cpu limit as a CFS quota, the memory
/// limit as the memory limit (read inside the container with ExecSync).
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
    wait_until("running", DEADLINE, || async { n.running_containers().await.len() == 1 }).await;
    let id = n.running_containers().await.remove(0);
    let (memory, quota, period, shares) = support::cgroup_limits(&*n.runtime, &id).await;
    assert_eq!((memory.as_str(), quota.as_str(), period.as_str()), ("67108864", "50000", "100000"));
    // 250 millicores: 250 * 1024 / 1000 shares, as the kubelet (cgroup v1).
    assert!(shares.as_deref().is_none_or(|s| s == "256"), "{shares:?}");
    n.delete_all_and_check_no_leftovers().await;
}

/// A pod whose image is only in a registry that wants a login: the agent
/// pulls it with the node's credentials for that registry and runs it.
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
    wait_until("Running", DEADLINE, || async {
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
