//! A container's logs read back as `kubectl logs` shows them: whole,
//! the last lines, and followed until the container exits.

use orch_core::kinds::pod::RestartPolicy;
use orch_core::testing::wait_for;
use orch_runtime::agent::logs::{container_logs, LogOptions};

use crate::{bound_pod, Node1, DEADLINE};

on_both_runtimes!(logs_are_read_whole_tailed_and_followed, logs_case);
async fn logs_case(n: Node1) {
    use futures::StreamExt;
    let script = "echo one; echo two; sleep 1; echo three";
    let mut pod = bound_pod("talker", vec![n.sh("c", script)]);
    pod.spec.restart_policy = Some(RestartPolicy::Never);
    let uid = n.pods().create(&pod).await.unwrap().metadata.uid;
    // Followed from the start: every line, then the stream ends with the container.
    let collect = |options: LogOptions| {
        let (runtime, uid) = (n.runtime.clone(), uid.clone());
        async move {
            let chunks = container_logs(runtime, &uid, "c", &options).await?;
            let all: Vec<_> = chunks.collect().await;
            let text: Result<Vec<_>, _> = all.into_iter().collect();
            text.map(|t| {
                t.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<String>()
            })
        }
    };
    let followed =
        wait_for("the container to start so that its log can be followed", DEADLINE, || {
            let c = collect(LogOptions { follow: true, ..Default::default() });
            async move { c.await.map_err(|e| e.to_string()) }
        })
        .await;
    assert_eq!(followed, "one\ntwo\nthree\n", "followed until the container exited");
    let whole = collect(LogOptions::default()).await.unwrap();
    assert_eq!(whole, "one\ntwo\nthree\n");
    let tail = collect(LogOptions { tail_lines: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(tail, "three\n");
    let stamped = collect(LogOptions { timestamps: true, ..Default::default() }).await.unwrap();
    assert!(
        stamped.lines().all(|l| l.split_once(' ').is_some_and(|(ts, _)| ts.contains('T'))),
        "{stamped}"
    );
    let previous = collect(LogOptions { previous: true, ..Default::default() }).await;
    assert!(previous.is_err(), "no previous attempt: {previous:?}");
    n.delete_all_and_check_no_leftovers().await;
}
