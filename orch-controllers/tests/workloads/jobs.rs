//! Jobs: completions at parallelism, retries up to backoffLimit.

use orch_core::Job;

use super::*;

fn job(name: &str, image: &str, spec: serde_json::Value) -> Job {
    let mut j: Job =
        serde_json::from_value(json!({ "metadata": {"name": name}, "spec": spec })).unwrap();
    j.spec.template = template(name, image);
    j.spec.template.spec.restart_policy = Some(orch_core::kinds::pod::RestartPolicy::Never);
    j
}

fn jobs(c: &Cluster) -> Api<Job> {
    Api::namespaced(c.store.clone(), "default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_finishes_with_exactly_its_completions_at_its_parallelism() {
    let c = Cluster::start();
    let created = jobs(&c)
        .create(&job("pi", "succeed:1", json!({"completions": 5, "parallelism": 2})))
        .await
        .unwrap();
    let most_active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    c.until("the Job to complete", || {
        let pods = c.pods();
        let jobs = jobs(&c);
        let most = most_active.clone();
        async move {
            let list = pods.list(&ListParams::default()).await.unwrap().items;
            let active = list
                .iter()
                .filter(|p| {
                    !matches!(
                        p.status.as_ref().and_then(|s| s.phase),
                        Some(PodPhase::Succeeded | PodPhase::Failed)
                    )
                })
                .count();
            most.fetch_max(active, std::sync::atomic::Ordering::Relaxed);
            let job = jobs.get("pi").await.unwrap();
            job.status
                .unwrap_or_default()
                .conditions
                .iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        }
    })
    .await;
    let status = jobs(&c).get("pi").await.unwrap().status.unwrap();
    assert_eq!((status.succeeded, status.failed, status.active), (Some(5), Some(0), Some(0)));
    assert!(status.completion_time.is_some() && status.start_time.is_some());
    let pods = c.pod_list().await;
    assert_eq!(pods.len(), 5, "exactly 5 pods ran");
    assert!(pods.iter().all(|p| owned_by(p, &created.metadata.uid)));
    assert!(pods.iter().all(|p| p.metadata.labels["batch.kubernetes.io/job-name"] == "pi"));
    let most = most_active.load(std::sync::atomic::Ordering::Relaxed);
    assert!(most <= 2, "at most parallelism pods at once, saw {most}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_retried_up_to_its_backoff_limit() {
    let c = Cluster::start();
    jobs(&c).create(&job("flaky", "fail:1", json!({"backoffLimit": 2}))).await.unwrap();
    c.until("the Job to fail", || async {
        let job = jobs(&c).get("flaky").await.unwrap();
        job.status
            .unwrap_or_default()
            .conditions
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True")
    })
    .await;
    let status = jobs(&c).get("flaky").await.unwrap().status.unwrap();
    let failed = status.conditions.iter().find(|c| c.type_ == "Failed").unwrap();
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(status.failed, Some(3), "the first try and 2 retries");
    assert_eq!(c.pod_list().await.len(), 3);
}
