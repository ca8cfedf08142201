//! ReplicaSets: scaling, replacing deleted Pods, adoption and release,
//! and the order Pods are deleted in on a scale-down.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_scale_up_and_down_and_replace_deleted_pods() {
    let c = Cluster::start();
    let rs = c.replica_sets().create(&replica_set("web", 3)).await.unwrap();
    let uid = rs.metadata.uid.clone();
    c.until("3 ready pods and status", || async {
        let rs = c.replica_sets().get("web").await.unwrap();
        let s = rs.status.unwrap_or_default();
        s.replicas == 3
            && s.ready_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.observed_generation == Some(1)
    })
    .await;
    let pods = c.pod_list().await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert!(p.metadata.name.starts_with("web-"));
        let owner = p.metadata.controller_owner().unwrap();
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("ReplicaSet", uid.as_str()));
        assert_eq!(p.metadata.labels["app"], "web");
    }

    c.replica_sets().patch("web", &json!({"spec": {"replicas": 5}})).await.unwrap();
    c.until("5 pods", || async { c.pod_list().await.iter().filter(|p| is_ready(p)).count() == 5 })
        .await;

    // A deleted pod is replaced.
    let victim = c.pod_list().await[0].metadata.name.clone();
    c.pods().delete(&victim, &DeleteParams::default()).await.unwrap();
    c.until("a replacement", || async {
        let pods = c.pod_list().await;
        pods.len() == 5
            && pods.iter().all(|p| p.metadata.name != victim)
            && pods.iter().all(is_ready)
    })
    .await;

    c.replica_sets().patch("web", &json!({"spec": {"replicas": 2}})).await.unwrap();
    c.until("2 pods and status", || async {
        let s = c.replica_sets().get("web").await.unwrap().status.unwrap_or_default();
        c.pod_list().await.len() == 2 && s.replicas == 2 && s.observed_generation == Some(3)
    })
    .await;
    // Never more than asked for: no double-creates from watch lag.
    assert_eq!(c.pod_list().await.len(), 2);
}

/// Scaled up one replica at a time, each step racing the Pod informer (every
/// Pod the controller creates, and every status the agent writes, brings a
/// reconcile at once): a watch on the Pods never sees more live Pods than
/// asked for. Once seen as a rolling update one Pod over its surge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_scaled_up_step_by_step_never_overshoot() {
    let c = Cluster::start();
    let list = c.pods().list(&ListParams::default()).await.unwrap();
    let mut watch = c.pods().watch(&WatchParams::default(), &list.resource_version).await.unwrap();
    c.replica_sets().create(&replica_set("web", 1)).await.unwrap();
    let mut live: HashMap<String, bool> = HashMap::new();
    let mut most = 0;
    let start = std::time::Instant::now();
    for want in 1..=30 {
        if want > 1 {
            c.replica_sets().patch("web", &json!({"spec": {"replicas": want}})).await.unwrap();
        }
        while live.values().filter(|l| **l).count() < want {
            assert!(start.elapsed() < DEADLINE, "step {want}: {} live pods", live.len());
            let Ok(Some(Ok(event))) =
                tokio::time::timeout(Duration::from_millis(200), watch.next()).await
            else {
                continue;
            };
            match event {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                    live.insert(p.metadata.name.clone(), !p.metadata.is_deleting());
                }
                WatchEvent::Deleted(p) => {
                    live.remove(&p.metadata.name);
                }
                WatchEvent::Bookmark { .. } => {}
            }
            most = most.max(live.values().filter(|l| **l).count());
            assert!(most <= want, "step {want}: {most} live pods for {want} replicas");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_adopt_matching_orphans_and_release_pods_that_stop_matching() {
    let c = Cluster::start();
    let mut orphan = Pod {
        metadata: ObjectMeta::named("stray").with_label("app", "web"),
        spec: template("web", "myapp:1.4.0").spec,
        ..Default::default()
    };
    orphan.metadata.labels.insert("extra".into(), "1".into());
    c.pods().create(&orphan).await.unwrap();
    // The controllers' shared cache has the orphan before the ReplicaSet exists.
    let cached = c.factory.informer::<Pod>();
    c.until("the orphan in the shared cache", || {
        let found = cached
            .cache()
            .get(&orch_core::controller::ObjectKey::new("default", "stray"))
            .is_some();
        async move { found }
    })
    .await;
    let rs = c.replica_sets().create(&replica_set("web", 2)).await.unwrap();
    c.until("the orphan adopted and one more created", || async {
        let pods = c.pod_list().await;
        pods.len() == 2 && pods.iter().all(|p| owned_by(p, &rs.metadata.uid))
    })
    .await;
    // Relabel one: it is released and replaced.
    c.pods().patch("stray", &json!({"metadata": {"labels": {"app": "other"}}})).await.unwrap();
    c.until("release and replacement", || async {
        let pods = c.pod_list().await;
        let stray = pods.iter().find(|p| p.metadata.name == "stray");
        let owned = pods.iter().filter(|p| owned_by(p, &rs.metadata.uid)).count();
        stray.is_some_and(|s| s.metadata.controller_owner().is_none()) && owned == 2
    })
    .await;
}

#[test]
fn scale_down_order_follows_kubernetes() {
    let pod = |name: &str, node: Option<&str>, phase: PodPhase, ready: bool, created: i64| {
        let mut p = Pod { metadata: ObjectMeta::named(name), ..Default::default() };
        p.metadata.creation_timestamp =
            Some(Time(chrono::DateTime::from_timestamp(created, 0).unwrap()));
        p.spec.node_name = node.map(str::to_owned);
        p.status = Some(PodStatus {
            phase: Some(phase),
            conditions: vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(
                    chrono::DateTime::from_timestamp(created + 10, 0).unwrap(),
                )),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    };
    let mut pods = [
        pod("old-ready", Some("n"), PodPhase::Running, true, 100),
        pod("new-ready", Some("n"), PodPhase::Running, true, 200),
        pod("not-ready", Some("n"), PodPhase::Running, false, 50),
        pod("pending", Some("n"), PodPhase::Pending, false, 10),
        pod("unscheduled", None, PodPhase::Pending, false, 5),
    ];
    pods.sort_by(deletion_order);
    let names: Vec<&str> = pods.iter().map(|p| p.metadata.name.as_str()).collect();
    assert_eq!(names, ["unscheduled", "pending", "not-ready", "new-ready", "old-ready"]);
}

/// A scale-down counts a deletion as done once the Pod is marked (Kubernetes'
/// `DeletionObserved`), so a second scale-down acts while the first Pod is
/// still terminating instead of waiting out its grace period (or the 5-minute
/// expectations timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_does_not_wait_for_terminating_pods_to_go() {
    let c = Cluster::start();
    let mut rs = replica_set("slow", 3);
    rs.spec.template.spec.containers[0].image = "slow-stop:1".into();
    rs.spec.template.spec.termination_grace_period_seconds = Some(3600);
    c.replica_sets().create(&rs).await.unwrap();
    let count = |pods: &[Pod], deleting: bool| {
        pods.iter().filter(|p| p.metadata.is_deleting() == deleting).count()
    };
    c.until("3 pods", || async { count(&c.pod_list().await, false) == 3 }).await;
    c.replica_sets().patch("slow", &json!({"spec": {"replicas": 2}})).await.unwrap();
    c.until("one pod terminating", || async { count(&c.pod_list().await, true) == 1 }).await;
    c.replica_sets().patch("slow", &json!({"spec": {"replicas": 1}})).await.unwrap();
    c.until("a second pod terminating while the first still is", || async {
        let pods = c.pod_list().await;
        count(&pods, true) == 2 && count(&pods, false) == 1
    })
    .await;
}
