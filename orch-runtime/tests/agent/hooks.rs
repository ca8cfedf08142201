//! Lifecycle hooks: postStart runs in the new container (and a failing one
//! kills and restarts it), preStop runs before SIGTERM and inside the grace
//! period, and failures are Warning Events.

use std::time::{Duration, Instant};

use orch_core::api::DeleteParams;
use orch_core::kinds::pod::{
    Container, ExecAction, Lifecycle, LifecycleHandler, Probe, SleepAction,
};
use orch_core::testing::{wait_for, wait_until};

use crate::{bound_pod, Node1, DEADLINE};

fn exec(script: &str) -> LifecycleHandler {
    let command = vec!["sh".into(), "-c".into(), script.into()];
    LifecycleHandler { exec: Some(ExecAction { command }), ..Default::default() }
}

fn with_hooks(
    mut c: Container,
    post_start: Option<LifecycleHandler>,
    pre_stop: Option<LifecycleHandler>,
) -> Container {
    c.lifecycle = Some(Lifecycle { post_start, pre_stop });
    c
}

/// A container that appends `term` to `file` on SIGTERM and exits.
fn term_logger(n: &Node1, file: &str) -> Container {
    n.sh("app", &format!("trap 'echo term >> {file}; exit 0' TERM; sleep 60 & wait"))
}

on_both_runtimes!(a_post_start_hook_runs_in_the_new_container, post_start_case);

async fn post_start_case(n: Node1) {
    let flag = n.scratch("post-started");
    let mut c = with_hooks(
        n.sh("app", "trap 'exit 0' TERM; sleep 60 & wait"),
        Some(exec(&format!("touch {flag}"))),
        None,
    );
    // Ready only once the hook's file is there.
    c.readiness_probe = Some(Probe {
        exec: Some(ExecAction { command: vec!["test".into(), "-f".into(), flag] }),
        period_seconds: Some(1),
        ..Default::default()
    });
    n.pods().create(&bound_pod("hooked", vec![c])).await.unwrap();
    n.running_and_ready("hooked").await;
    n.delete_all_and_check_no_leftovers().await;
}

on_both_runtimes!(
    a_failing_post_start_hook_kills_and_restarts_the_container,
    failed_post_start_case
);

async fn failed_post_start_case(n: Node1) {
    let c =
        with_hooks(n.sh("app", "trap 'exit 0' TERM; sleep 60 & wait"), Some(exec("exit 3")), None);
    n.pods().create(&bound_pod("hook-fails", vec![c])).await.unwrap();
    wait_until("a FailedPostStartHook Event", DEADLINE, || async {
        n.event_messages("FailedPostStartHook")
            .await
            .iter()
            .any(|m| m == "hook-fails: PostStartHook failed")
    })
    .await;
    wait_for("the container restarted", DEADLINE, || async {
        let p = n.pod("hook-fails").await;
        let restarts =
            p.status.as_ref().and_then(|s| s.container_statuses.first()).map(|c| c.restart_count);
        if restarts.is_some_and(|r| r >= 1) {
            Ok(())
        } else {
            Err(format!("restarts: {restarts:?}"))
        }
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_runs_before_sigterm_when_the_pod_is_deleted() {
    let n = Node1::start().await;
    let file = n.scratch("order");
    let c =
        with_hooks(term_logger(&n, &file), None, Some(exec(&format!("echo prestop >> {file}"))));
    n.pods().create(&bound_pod("ordered", vec![c])).await.unwrap();
    n.running_and_ready("ordered").await;
    n.pods().delete("ordered", &DeleteParams::default()).await.unwrap();
    wait_for("preStop then SIGTERM", DEADLINE, || async {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text == "prestop\nterm\n" {
            Ok(())
        } else {
            Err(format!("{text:?}"))
        }
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_stop_hook_runs_inside_the_grace_period() {
    let n = Node1::start().await;
    let file = n.scratch("term");
    // The hook would sleep 60 s; the grace period is 2 s.
    let sleep = LifecycleHandler { sleep: Some(SleepAction { seconds: 60 }), ..Default::default() };
    let c = with_hooks(term_logger(&n, &file), None, Some(sleep));
    let mut pod = bound_pod("graceful", vec![c]);
    pod.spec.termination_grace_period_seconds = Some(2);
    n.pods().create(&pod).await.unwrap();
    n.running_and_ready("graceful").await;
    let deleted = Instant::now();
    n.pods().delete("graceful", &DeleteParams::default()).await.unwrap();
    wait_until("SIGTERM after the hook is cut at the grace period", DEADLINE, || async {
        std::fs::read_to_string(&file).unwrap_or_default() == "term\n"
    })
    .await;
    // Counted inside the grace period, not before it: 2 s, not 60 + 2.
    let took = deleted.elapsed();
    assert!(took < Duration::from_secs(20), "SIGTERM came {took:?} after the deletion");
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pre_stop_hook_is_an_event_and_the_container_stops_anyway() {
    let n = Node1::start().await;
    let file = n.scratch("term");
    let c = with_hooks(term_logger(&n, &file), None, Some(exec("exit 1")));
    n.pods().create(&bound_pod("stop-fails", vec![c])).await.unwrap();
    n.running_and_ready("stop-fails").await;
    n.pods().delete("stop-fails", &DeleteParams::default()).await.unwrap();
    wait_until("a FailedPreStopHook Event", DEADLINE, || async {
        n.event_messages("FailedPreStopHook")
            .await
            .iter()
            .any(|m| m == "stop-fails: PreStopHook failed")
    })
    .await;
    wait_until("SIGTERM all the same", DEADLINE, || async {
        std::fs::read_to_string(&file).unwrap_or_default() == "term\n"
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}
