//! Deployments: rolling updates within maxSurge/maxUnavailable, rollback,
//! auto-revert, Recreate, pause and revision history.

use super::*;

/// Follows every Pod event and checks the rolling-update bounds in each state.
struct RolloutObserver {
    pods: BTreeMap<String, Pod>,
    max_pods_seen: usize,
    min_ready_seen: usize,
    states: usize,
}

impl RolloutObserver {
    fn apply(&mut self, event: WatchEvent<Pod>) {
        match event {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                self.pods.insert(p.metadata.name.clone(), p);
            }
            WatchEvent::Deleted(p) => {
                self.pods.remove(&p.metadata.name);
            }
            WatchEvent::Bookmark { .. } => return,
        }
        let live = self.pods.values().filter(|p| !p.metadata.is_deleting()).count();
        let ready = self.pods.values().filter(|p| !p.metadata.is_deleting() && is_ready(p)).count();
        self.max_pods_seen = self.max_pods_seen.max(live);
        self.min_ready_seen = self.min_ready_seen.min(ready);
        self.states += 1;
    }
}

async fn wait_rolled_out(c: &Cluster, name: &str, image: &str, replicas: usize) {
    c.until(&format!("{name} rolled out to {image}"), || async {
        let d = c.deployments().get(name).await.unwrap();
        let s = d.status.clone().unwrap_or_default();
        let pods = c.pod_list().await;
        let on_image =
            pods.iter().filter(|p| p.spec.containers[0].image == image && is_ready(p)).count();
        on_image == replicas
            && pods.len() == replicas
            && s.updated_replicas == Some(replicas as i32)
            && s.available_replicas == Some(replicas as i32)
            && s.observed_generation == Some(d.metadata.generation)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_updates_stay_within_max_surge_and_max_unavailable_and_roll_back() {
    let c = Cluster::start();
    let mut d = deployment("web", 4, "myapp:1.4.0");
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some(DeploymentStrategyType::RollingUpdate),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(1)),
            max_unavailable: Some(IntOrString::String("25%".into())),
        }),
    });
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "web", "myapp:1.4.0", 4).await;
    let d = c.deployments().get("web").await.unwrap();
    let status = d.status.clone().unwrap();
    let reasons: HashMap<&str, &str> = status
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.reason.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(reasons["Available"], "MinimumReplicasAvailable");
    assert_eq!(reasons["Progressing"], "NewReplicaSetAvailable");
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "1");

    // Watch every pod state during the update.
    let list = c.pods().list(&ListParams::default()).await.unwrap();
    let mut observer = RolloutObserver {
        pods: list.items.into_iter().map(|p| (p.metadata.name.clone(), p)).collect(),
        max_pods_seen: 4,
        min_ready_seen: 4,
        states: 0,
    };
    let mut watch = c.pods().watch(&WatchParams::default(), &list.resource_version).await.unwrap();
    c.deployments()
        .patch("web", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "myapp:1.5.0"}]}}}}))
        .await
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let done = observer.pods.len() == 4
            && observer
                .pods
                .values()
                .all(|p| p.spec.containers[0].image == "myapp:1.5.0" && is_ready(p));
        if done {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "rollout did not finish: {:?}", observer.pods.keys());
        if let Ok(Some(Ok(event))) =
            tokio::time::timeout(Duration::from_millis(200), watch.next()).await
        {
            observer.apply(event);
        }
    }
    assert!(observer.states > 8, "the rollout went through intermediate states");
    assert!(observer.max_pods_seen <= 5, "maxSurge 1 exceeded: {} pods", observer.max_pods_seen);
    assert!(
        observer.min_ready_seen >= 3,
        "maxUnavailable 1 exceeded: {} ready",
        observer.min_ready_seen
    );
    wait_rolled_out(&c, "web", "myapp:1.5.0", 4).await;
    let rss = c.replica_sets().list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rss.len(), 2);
    let revisions: Vec<(String, i32)> = rss
        .iter()
        .map(|r| (r.metadata.annotations[REVISION_ANNOTATION].clone(), r.spec.replicas.unwrap()))
        .collect();
    assert!(
        revisions.contains(&("1".into(), 0)) && revisions.contains(&("2".into(), 4)),
        "{revisions:?}"
    );

    // Roll back to the previous revision: it becomes revision 3.
    rollback(c.store.clone(), "default", "web", None).await.unwrap();
    wait_rolled_out(&c, "web", "myapp:1.4.0", 4).await;
    c.until("revision 3", || async {
        c.deployments()
            .get("web")
            .await
            .unwrap()
            .metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .map(String::as_str)
            == Some("3")
    })
    .await;
    assert_eq!(
        c.replica_sets().list(&ListParams::default()).await.unwrap().items.len(),
        2,
        "the old ReplicaSet was reused"
    );
    assert!(rollback(c.store.clone(), "default", "web", Some(42)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_never_becomes_ready_is_reverted_automatically() {
    let c = Cluster::start();
    let mut d = deployment("api", 2, "myapp:1.0");
    d.metadata.annotations.insert("orch.io/auto-revert".into(), "true".into());
    d.spec.progress_deadline_seconds = Some(2);
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "api", "myapp:1.0", 2).await;
    c.deployments()
        .patch("api", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "broken:2.0"}]}}}}))
        .await
        .unwrap();
    c.until("the template reverted", || async {
        c.deployments().get("api").await.unwrap().spec.template.spec.containers[0].image
            == "myapp:1.0"
    })
    .await;
    wait_rolled_out(&c, "api", "myapp:1.0", 2).await;
    let events: Api<Event> = Api::namespaced(c.store.clone(), "default");
    let reverted = events
        .list(&ListParams::default().fields("involvedObject.name=api,reason=AutoReverted"))
        .await
        .unwrap();
    assert_eq!(reverted.items.len(), 1);
    assert!(reverted.items[0].message.as_deref().unwrap().contains("rolled back to revision 1"));
    let deadline = events
        .list(
            &ListParams::default()
                .fields("involvedObject.name=api,reason=ProgressDeadlineExceeded"),
        )
        .await
        .unwrap();
    assert_eq!(deadline.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_stops_every_old_pod_before_starting_new_ones() {
    let c = Cluster::start();
    let mut d = deployment("batch", 3, "job:1");
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some(DeploymentStrategyType::Recreate),
        rolling_update: None,
    });
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "batch", "job:1", 3).await;
    let list = c.pods().list(&ListParams::default()).await.unwrap();
    let mut pods: BTreeMap<String, Pod> =
        list.items.into_iter().map(|p| (p.metadata.name.clone(), p)).collect();
    let mut watch = c.pods().watch(&WatchParams::default(), &list.resource_version).await.unwrap();
    c.deployments()
        .patch("batch", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "job:2"}]}}}}))
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while !(pods.len() == 3
        && pods.values().all(|p| p.spec.containers[0].image == "job:2" && is_ready(p)))
    {
        assert!(start.elapsed() < DEADLINE, "recreate did not finish");
        if let Ok(Some(Ok(event))) =
            tokio::time::timeout(Duration::from_millis(200), watch.next()).await
        {
            match event {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                    pods.insert(p.metadata.name.clone(), p);
                }
                WatchEvent::Deleted(p) => {
                    pods.remove(&p.metadata.name);
                }
                WatchEvent::Bookmark { .. } => {}
            }
            let images: std::collections::HashSet<&str> =
                pods.values().map(|p| p.spec.containers[0].image.as_str()).collect();
            assert!(images.len() <= 1, "old and new pods at once: {images:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_deployments_do_not_roll_out_and_history_is_limited() {
    let c = Cluster::start();
    let mut d = deployment("web", 2, "v:1");
    d.spec.revision_history_limit = Some(1);
    c.deployments().create(&d).await.unwrap();
    wait_rolled_out(&c, "web", "v:1", 2).await;
    for image in ["v:2", "v:3"] {
        c.deployments()
            .patch("web", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}))
            .await
            .unwrap();
        wait_rolled_out(&c, "web", image, 2).await;
    }
    c.until("history limited to one old ReplicaSet", || async {
        c.replica_sets().list(&ListParams::default()).await.unwrap().items.len() == 2
    })
    .await;

    c.deployments().patch("web", &json!({"spec": {"paused": true}})).await.unwrap();
    let changed = c
        .deployments()
        .patch("web", &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "v:4"}]}}}}))
        .await
        .unwrap();
    c.until("the paused change observed", || async {
        let d = c.deployments().get("web").await.unwrap();
        d.status.and_then(|s| s.observed_generation) == Some(changed.metadata.generation)
    })
    .await;
    let pods = c.pod_list().await;
    assert!(pods.iter().all(|p| p.spec.containers[0].image == "v:3"), "paused: no rollout");
    assert_eq!(c.replica_sets().list(&ListParams::default()).await.unwrap().items.len(), 2);
    c.deployments().patch("web", &json!({"spec": {"paused": false}})).await.unwrap();
    wait_rolled_out(&c, "web", "v:4", 2).await;
}
