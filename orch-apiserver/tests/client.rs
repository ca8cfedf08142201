//! `orch_apiserver::Client` under `Api<K>`: every call a REST request to a
//! TLS server with RBAC, made with the caller's own certificate.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orch_apiserver::pki::Pki;
use orch_apiserver::Client;
use orch_core::api::{
    DeleteOutcome, DeleteParams, ListParams, Preconditions, WatchEvent, WatchParams,
};
use orch_core::store::Store;
use orch_core::{Api, Error, Node, ObjectMeta, Pod};
use support::Server;

/// A TLS server with RBAC, and a way to make clients of it.
struct Cluster {
    server: Server,
    pki: Pki,
}

impl Cluster {
    fn start() -> Cluster {
        let pki = Pki::generate(&[]).unwrap();
        let tls = orch_apiserver::tls::TlsSettings {
            server: pki.server.clone(),
            client_ca_pem: Some(pki.ca_pem.clone()),
        };
        let server = Server::start_tls(tls, |s| {
            s.authenticator(orch_apiserver::Authenticator::new()).rbac()
        });
        Cluster { server, pki }
    }

    /// A client authenticated as `user` in `groups`.
    fn client(&self, user: &str, groups: &[&str]) -> Arc<dyn Store> {
        let cert = self.pki.client(user, groups).unwrap();
        let url = format!("https://{}", self.server.addr);
        let client = Client::from_kubeconfig(&self.pki.kubeconfig(&url, &cert, "default")).unwrap();
        Arc::new(client)
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "terminationGracePeriodSeconds": 30}
    }))
    .unwrap()
}

#[test]
fn an_api_over_a_client_reads_writes_watches_and_deletes() {
    let cluster = Cluster::start();
    let admin = cluster.client("admin", &["system:masters"]);
    cluster.server.runtime.block_on(async {
        let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
        let created = pods.create(&pod("web-1")).await.unwrap();
        assert!(!created.metadata.uid.is_empty(), "the server assigned a uid");
        assert!(matches!(pods.create(&pod("web-1")).await, Err(Error::AlreadyExists { .. })));
        pods.create(&pod("web-2")).await.unwrap();
        let list = pods.list(&ListParams::default().labels("app=web")).await.unwrap();
        let names: Vec<&str> = list.items.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(names, ["web-1", "web-2"]);
        let page = pods.list(&ListParams::default().limit(1)).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(page.continue_token.is_some(), "a paged list goes on");

        let mut watch = pods.watch(&WatchParams::default(), &list.resource_version).await.unwrap();
        let patched = pods
            .patch("web-1", &serde_json::json!({"metadata": {"labels": {"tier": "front"}}}))
            .await
            .unwrap();
        assert_eq!(patched.metadata.labels["tier"], "front");
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap();
        match event {
            Some(Ok(WatchEvent::Modified(p))) => assert_eq!(p.metadata.labels["tier"], "front"),
            other => panic!("want the patch as MODIFIED, got {other:?}"),
        }

        let mut stale = created.clone();
        stale.metadata.labels.insert("stale".into(), "yes".into());
        assert!(matches!(pods.replace(&stale).await, Err(Error::Conflict { .. })));
        let relabelled = pods
            .patch_with("web-1", None, |current| {
                let mut v = current.clone();
                v["metadata"]["labels"]["again"] = "yes".into();
                Ok(v)
            })
            .await
            .unwrap();
        assert_eq!(relabelled.metadata.labels["again"], "yes");

        let bound = pods.bind("web-1", "node-1", &Preconditions::default()).await.unwrap();
        assert_eq!(bound.spec.node_name.as_deref(), Some("node-1"));
        match pods.delete("web-1", &DeleteParams::default()).await.unwrap() {
            DeleteOutcome::Finalizing(p) => assert!(p.metadata.deletion_timestamp.is_some()),
            other => panic!("a bound pod terminates gracefully: {other:?}"),
        }
        let now = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
        assert!(matches!(pods.delete("web-1", &now).await.unwrap(), DeleteOutcome::Deleted(_)));
        assert!(pods.get_opt("web-1").await.unwrap().is_none());
        assert!(matches!(pods.get("web-1").await, Err(Error::NotFound { .. })));
    });
}

#[test]
fn a_client_acts_with_its_own_credentials() {
    let cluster = Cluster::start();
    let admin = cluster.client("admin", &["system:masters"]);
    let node = cluster.client("system:node:node-1", &["system:nodes"]);
    let stranger = cluster.client("stranger", &[]);
    cluster.server.runtime.block_on(async {
        let nodes: Api<Node> = Api::all(admin);
        for n in ["node-1", "node-2"] {
            nodes
                .create(&Node { metadata: ObjectMeta::named(n), ..Default::default() })
                .await
                .unwrap();
        }
        let as_node: Api<Node> = Api::all(node);
        let label = serde_json::json!({"metadata": {"labels": {"disk": "ssd"}}});
        as_node.patch("node-1", &label).await.unwrap();
        match as_node.patch("node-2", &label).await {
            Err(Error::Forbidden { message, .. }) => {
                assert!(message.contains("is not allowed to modify node \"node-2\""), "{message}")
            }
            other => panic!("a node may not write another node: {other:?}"),
        }
        let pods: Api<Pod> = Api::namespaced(stranger.clone(), "default");
        assert!(matches!(pods.list(&ListParams::default()).await, Err(Error::Forbidden { .. })));
        assert!(matches!(stranger.range(Default::default()).await, Err(Error::Unavailable(_))));
    });
}

/// The ReplicaSet controller and the scheduler, each over a client with
/// its component's certificate (`system:kube-controller-manager`,
/// `system:kube-scheduler`): informers watch over HTTPS, the controller
/// creates the pods, the scheduler binds them through `pods/binding`.
#[test]
fn controllers_and_the_scheduler_run_over_clients() {
    use orch_controllers::ReplicaSetController;
    use orch_core::controller::InformerFactory;
    use orch_core::ReplicaSet;
    use orch_sched::framework::Registry;
    use orch_sched::scheduler::{Scheduler, SchedulerConfig};
    use tokio_util::sync::CancellationToken;

    let cluster = Cluster::start();
    let admin = cluster.client("admin", &["system:masters"]);
    let manager = cluster.client("system:kube-controller-manager", &[]);
    let scheduler = cluster.client("system:kube-scheduler", &[]);
    cluster.server.runtime.block_on(async {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node-1"},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let nodes: Api<Node> = Api::all(admin.clone());
        let created = nodes.create(&node).await.unwrap();
        nodes.replace_status(&Node { status: node.status.clone(), ..created }).await.unwrap();

        let stop = CancellationToken::new();
        let controllers = Arc::new(InformerFactory::new(manager));
        let rs = Arc::new(ReplicaSetController::new(&controllers));
        let rs_task = tokio::spawn(
            ReplicaSetController::controller(controllers.clone()).run(rs, stop.clone()),
        );
        let schedulers = Arc::new(InformerFactory::new(scheduler));
        let sched =
            Scheduler::new(schedulers.clone(), &Registry::default(), SchedulerConfig::default())
                .unwrap();
        let sched_task = tokio::spawn(sched.run(stop.clone()));

        let replica_set: ReplicaSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .unwrap();
        Api::<ReplicaSet>::namespaced(admin.clone(), "default").create(&replica_set).await.unwrap();
        let pods: Api<Pod> = Api::namespaced(admin, "default");
        orch_core::testing::wait_for("2 pods bound to node-1", Duration::from_secs(30), || {
            let pods = pods.clone();
            async move {
                let list = pods.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
                let bound = list
                    .items
                    .iter()
                    .filter(|p| p.spec.node_name.as_deref() == Some("node-1"))
                    .count();
                if bound == 2 {
                    Ok(())
                } else {
                    Err(format!("{bound} of 2 bound"))
                }
            }
        })
        .await;
        stop.cancel();
        let _ = rs_task.await;
        let _ = sched_task.await;
        controllers.shutdown();
        schedulers.shutdown();
    });
}
