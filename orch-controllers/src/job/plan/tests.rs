use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use orch_core::kinds::job::{Job, JobStatus};
use orch_core::kinds::pod::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodPhase, PodStatus,
};
use orch_core::Time;

use super::*;

const BASE: Duration = Duration::from_secs(10);

fn at(seconds: i64) -> Time {
    Time(chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap())
}

fn job(spec: serde_json::Value) -> Job {
    let mut j: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
        "spec": spec,
    }))
    .unwrap();
    j.status = Some(JobStatus { start_time: Some(at(0)), ..Default::default() });
    j
}

fn pod(name: &str, phase: PodPhase, index: Option<i32>, finished: Option<i64>) -> Arc<Pod> {
    let mut p = Pod::default();
    p.metadata.name = name.into();
    if let Some(i) = index {
        p.metadata.annotations.insert(COMPLETION_INDEX_ANNOTATION.into(), i.to_string());
    }
    let terminated = finished.map(|s| ContainerState {
        terminated: Some(ContainerStateTerminated {
            finished_at: Some(at(s)),
            ..Default::default()
        }),
        ..Default::default()
    });
    p.status = Some(PodStatus {
        phase: Some(phase),
        container_statuses: vec![ContainerStatus { state: terminated, ..Default::default() }],
        ..Default::default()
    });
    Arc::new(p)
}

fn running(name: &str) -> Arc<Pod> {
    pod(name, PodPhase::Running, None, None)
}

fn condition(plan: &Plan, type_: &str) -> Option<(String, String)> {
    plan.status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[test]
fn a_job_runs_parallelism_pods_until_completions_succeed() {
    let j = job(serde_json::json!({"completions": 5, "parallelism": 2}));
    let succeeded = |n: usize| -> Vec<Arc<Pod>> {
        (0..n).map(|i| pod(&format!("s{i}"), PodPhase::Succeeded, None, Some(1))).collect()
    };
    let cases: Vec<(Vec<Arc<Pod>>, usize)> = vec![
        (vec![], 2),
        (vec![running("a")], 1),
        (vec![running("a"), running("b")], 0),
        ([succeeded(3), vec![running("a")]].concat(), 1),
        ([succeeded(4), vec![running("a")]].concat(), 0),
    ];
    for (pods, want) in cases {
        let plan = plan(&j, &pods, at(5), BASE);
        assert_eq!(plan.create.len(), want, "{} pods", pods.len());
        assert!(condition(&plan, "Complete").is_none());
    }
    let mut pods = succeeded(5);
    pods.push(running("extra"));
    let done = plan(&j, &pods, at(5), BASE);
    assert_eq!(condition(&done, "Complete"), Some(("True".into(), "CompletionsReached".into())));
    assert_eq!(done.status.completion_time, Some(at(5)));
    assert_eq!(done.delete, ["extra"]);
    assert_eq!((done.status.succeeded, done.status.active), (Some(5), Some(1)));
    assert!(done.create.is_empty());
}

#[test]
fn failures_past_the_backoff_limit_fail_the_job() {
    let j = job(serde_json::json!({"completions": 1, "backoffLimit": 2}));
    let failed: Vec<Arc<Pod>> =
        (0..3).map(|i| pod(&format!("f{i}"), PodPhase::Failed, None, Some(0))).collect();
    let mut pods = failed.clone();
    pods.push(running("a"));
    let plan = plan(&j, &pods, at(600), BASE);
    assert_eq!(condition(&plan, "Failed"), Some(("True".into(), "BackoffLimitExceeded".into())));
    assert_eq!(plan.delete, ["a"]);
    assert!(plan.create.is_empty());
    let within = super::plan(&j, &failed[..2], at(600), BASE);
    assert!(condition(&within, "Failed").is_none());
    assert_eq!(within.create.len(), 1, "two failures of a limit of 2: retry");
}

#[test]
fn a_pod_is_recreated_only_after_the_backoff() {
    let j = job(serde_json::json!({"completions": 1}));
    // One failure at t=100: wait 10 s; three failures: 40 s.
    let one = vec![pod("f0", PodPhase::Failed, None, Some(100))];
    let early = plan(&j, &one, at(105), BASE);
    assert!(early.create.is_empty());
    assert_eq!(early.requeue_after, Some(Duration::from_secs(5)));
    assert_eq!(plan(&j, &one, at(111), BASE).create.len(), 1);
    let three: Vec<Arc<Pod>> =
        (0..3).map(|i| pod(&format!("f{i}"), PodPhase::Failed, None, Some(100))).collect();
    assert_eq!(plan(&j, &three, at(130), BASE).requeue_after, Some(Duration::from_secs(10)));
    assert_eq!(backoff(BASE, 1), Duration::from_secs(10));
    assert_eq!(backoff(BASE, 3), Duration::from_secs(40));
    assert_eq!(backoff(BASE, 30), MAX_BACKOFF);
}

#[test]
fn the_active_deadline_fails_the_job() {
    let j = job(serde_json::json!({"activeDeadlineSeconds": 60}));
    let before = plan(&j, &[running("a")], at(30), BASE);
    assert!(condition(&before, "Failed").is_none());
    assert_eq!(before.requeue_after, Some(Duration::from_secs(30)));
    let after = plan(&j, &[running("a")], at(60), BASE);
    assert_eq!(condition(&after, "Failed"), Some(("True".into(), "DeadlineExceeded".into())));
    assert_eq!(after.delete, ["a"]);
}

#[test]
fn a_suspended_job_stops_its_pods_and_resumes() {
    let mut j = job(serde_json::json!({"parallelism": 2, "completions": 4, "suspend": true}));
    let suspended = plan(&j, &[running("a")], at(10), BASE);
    assert_eq!(suspended.delete, ["a"]);
    assert!(suspended.create.is_empty());
    assert_eq!(condition(&suspended, "Suspended"), Some(("True".into(), "JobSuspended".into())));
    assert_eq!(suspended.status.start_time, None, "the deadline counts anew");
    j.spec.suspend = Some(false);
    j.status = Some(suspended.status);
    let resumed = plan(&j, &[], at(20), BASE);
    assert_eq!(resumed.create.len(), 2);
    assert_eq!(condition(&resumed, "Suspended"), Some(("False".into(), "JobResumed".into())));
    assert_eq!(resumed.status.start_time, Some(at(20)));
}

#[test]
fn an_indexed_job_runs_each_missing_index_once() {
    let j =
        job(serde_json::json!({"completions": 4, "parallelism": 3, "completionMode": "Indexed"}));
    let pods = vec![
        pod("pi-1", PodPhase::Succeeded, Some(1), Some(5)),
        pod("pi-0", PodPhase::Running, Some(0), None),
    ];
    let plan = plan(&j, &pods, at(10), BASE);
    assert_eq!(plan.create, [Some(2), Some(3)]);
    assert_eq!(plan.status.completed_indexes.as_deref(), Some("1"));
    let all: Vec<Arc<Pod>> =
        (0..4).map(|i| pod(&format!("pi-{i}"), PodPhase::Succeeded, Some(i), Some(5))).collect();
    let done = super::plan(&j, &all, at(10), BASE);
    assert_eq!(condition(&done, "Complete").map(|c| c.0), Some("True".into()));
    assert_eq!(done.status.completed_indexes.as_deref(), Some("0-3"));
    let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into();
    assert_eq!(format_indexes(&set), "0-2,4,6-7");
}

#[test]
fn a_finished_job_goes_after_its_ttl() {
    let j = job(serde_json::json!({"ttlSecondsAfterFinished": 60}));
    let finished = plan(&j, &[pod("a", PodPhase::Succeeded, None, Some(1))], at(100), BASE);
    let mut done = j.clone();
    done.status = Some(finished.status);
    let soon = plan(&done, &[], at(110), BASE);
    assert!(!soon.delete_job);
    assert_eq!(soon.requeue_after, Some(Duration::from_secs(50)));
    assert!(plan(&done, &[], at(160), BASE).delete_job);
}
