//! The pods Table: `NAME READY STATUS RESTARTS AGE` and, wide, `IP NODE
//! NOMINATED NODE READINESS GATES`, with kube-apiserver v1.32's STATUS logic.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age, int, list, or, present, since, text, time, Column};

pub(super) const COLUMNS: &[Column] = &[
    Column::name(),
    Column::string("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    Column::string("Status", "The aggregate status of the containers in this pod."),
    Column::string("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    Column::age(),
    Column::string("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.").wide(),
    Column::string("Node", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename").wide(),
    Column::string("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.").wide(),
    Column::string("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates").wide(),
];

/// The row's `conditions`: `Completed` for a pod that has finished.
pub(super) fn conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match text(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// What a container's `state` says, as STATUS reads it.
enum State<'a> {
    Waiting(&'a str),
    Terminated { reason: &'a str, exit_code: i64, signal: i64 },
    Running,
    Unknown,
}

impl<'a> State<'a> {
    fn of(status: &'a Value) -> Self {
        if present(status, "/state/waiting") {
            State::Waiting(text(status, "/state/waiting/reason"))
        } else if present(status, "/state/terminated") {
            State::Terminated {
                reason: text(status, "/state/terminated/reason"),
                exit_code: int(status, "/state/terminated/exitCode").unwrap_or(0),
                signal: int(status, "/state/terminated/signal").unwrap_or(0),
            }
        } else if present(status, "/state/running") {
            State::Running
        } else {
            State::Unknown
        }
    }
}

/// When a container last stopped (`lastState.terminated.finishedAt`).
fn last_finished(status: &Value) -> Option<DateTime<Utc>> {
    time(status, "/lastState/terminated/finishedAt")
}

fn latest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

fn condition_true(pod: &Value, type_: &str) -> bool {
    list(pod, "/status/conditions")
        .iter()
        .any(|c| text(c, "/type") == type_ && text(c, "/status") == "True")
}

/// The cells of one pod, as kube-apiserver v1.32's `printPod` (wide).
///
/// * READY: ready containers / containers, counting sidecars
///   (`restartPolicy: Always` init containers) in both once started.
/// * STATUS: the phase (`Pending` when orch has not set one; kube-apiserver
///   sets it on create), replaced by `status.reason`, `SchedulingGated`,
///   the first unfinished init container (`Init:x/y`, `Init:<reason>`,
///   `Init:ExitCode:n`), else the last container's waiting or terminated
///   reason (`ContainerCreating`, `CrashLoopBackOff`, `Completed`, `Error`,
///   `ExitCode:n`); `Completed` with a container still running reads
///   `Running` (pod Ready) or `NotReady`; a deleted pod reads `Terminating`
///   unless it has finished (`Unknown` when its node was lost).
/// * RESTARTS: the sum of restart counts, with ` (<age> ago)` of the latest
///   `lastState.terminated.finishedAt`.
pub(super) fn cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let init_specs = list(pod, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs.iter().any(|c| text(c, "/name") == name && text(c, "/restartPolicy") == "Always")
    };
    let sidecars = init_specs.iter().filter(|c| text(c, "/restartPolicy") == "Always").count();
    let total = list(pod, "/spec/containers").len() + sidecars;
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut last_restart = None;
    let mut sidecar_restarts = 0i64;
    let mut last_sidecar_restart = None;

    let phase = or(text(pod, "/status/phase"), "Pending");
    let mut reason = or(text(pod, "/status/reason"), phase).to_owned();
    let conditions = list(pod, "/status/conditions");
    if conditions
        .iter()
        .any(|c| text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_owned();
    }

    let mut initializing = false;
    for (i, status) in list(pod, "/status/initContainerStatuses").iter().enumerate() {
        let count = int(status, "/restartCount").unwrap_or(0);
        restarts += count;
        last_restart = latest(last_restart, last_finished(status));
        let sidecar = restartable(text(status, "/name"));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = latest(last_sidecar_restart, last_finished(status));
        }
        let started = status.get("started").and_then(Value::as_bool) == Some(true);
        match State::of(status) {
            State::Terminated { exit_code: 0, .. } => continue,
            _ if sidecar && started => {
                if status.get("ready").and_then(Value::as_bool) == Some(true) {
                    ready += 1;
                }
                continue;
            }
            State::Terminated { reason: r, exit_code, signal } => {
                reason = match (r, signal) {
                    ("", 0) => format!("Init:ExitCode:{exit_code}"),
                    ("", signal) => format!("Init:Signal:{signal}"),
                    (r, _) => format!("Init:{r}"),
                };
            }
            State::Waiting(r) if !r.is_empty() && r != "PodInitializing" => {
                reason = format!("Init:{r}");
            }
            _ => reason = format!("Init:{i}/{}", init_specs.len()),
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in list(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(status, "/restartCount").unwrap_or(0);
            last_restart = latest(last_restart, last_finished(status));
            match State::of(status) {
                State::Waiting(r) if !r.is_empty() => reason = r.to_owned(),
                State::Terminated { reason: r, .. } if !r.is_empty() => reason = r.to_owned(),
                State::Terminated { signal, exit_code, .. } => {
                    reason = if signal != 0 {
                        format!("Signal:{signal}")
                    } else {
                        format!("ExitCode:{exit_code}")
                    };
                }
                State::Running if status.get("ready").and_then(Value::as_bool) == Some(true) => {
                    has_running = true;
                    ready += 1;
                }
                _ => {}
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") { "Running" } else { "NotReady" }.to_owned();
        }
    }

    let deleted = pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    if deleted && text(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleted && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".to_owned();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };
    let pod_ip = list(pod, "/status/podIPs").first().map_or("", |ip| text(ip, "/ip"));
    let pod_ip = or(or(pod_ip, text(pod, "/status/podIP")), "<none>");
    let gates = list(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let met = gates
            .iter()
            .filter(|g| {
                let wanted = text(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| text(c, "/type") == wanted)
                    .is_some_and(|c| text(c, "/status") == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        text(pod, "/metadata/name").into(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_cell.into(),
        age(pod, now),
        pod_ip.into(),
        or(text(pod, "/spec/nodeName"), "<none>").into(),
        or(text(pod, "/status/nominatedNodeName"), "<none>").into(),
        readiness_gates.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::now;
    use super::*;

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:50:00Z"},
               "spec": spec, "status": status})
    }

    fn one(c: &str) -> Value {
        json!({"containers": [{"name": c, "image": "nginx"}]})
    }

    fn running(ready: bool, restarts: i64) -> Value {
        json!({"name": "c", "ready": ready, "restartCount": restarts,
               "state": {"running": {"startedAt": "2024-05-01T11:51:00Z"}}})
    }

    fn waiting(reason: &str) -> Value {
        json!({"name": "c", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason}}})
    }

    fn terminated(reason: &str, exit_code: i64) -> Value {
        json!({"name": "c", "ready": false, "restartCount": 0,
               "state": {"terminated": {"reason": reason, "exitCode": exit_code}}})
    }

    /// (what, pod, READY, STATUS, RESTARTS)
    #[test]
    fn ready_status_restarts() {
        let crash = json!({"name": "c", "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                         "finishedAt": "2024-05-01T11:55:00Z"}}});
        let mut deleted =
            pod(one("c"), json!({"phase": "Running", "containerStatuses": [running(true, 0)]}));
        deleted["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
        let mut deleted_done = pod(one("c"), json!({"phase": "Succeeded"}));
        deleted_done["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
        let mut lost = pod(one("c"), json!({"phase": "Running", "reason": "NodeLost"}));
        lost["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
        let init = json!({"initContainers": [{"name": "i", "image": "busybox"}],
                          "containers": [{"name": "c", "image": "nginx"}]});
        let sidecar = json!({"initContainers": [{"name": "s", "image": "envoy", "restartPolicy": "Always"}],
                             "containers": [{"name": "c", "image": "nginx"}]});
        let two = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let cases = [
            (
                "running",
                pod(one("c"), json!({"phase": "Running", "containerStatuses": [running(true, 0)]})),
                "1/1",
                "Running",
                "0",
            ),
            (
                "not ready",
                pod(
                    one("c"),
                    json!({"phase": "Running", "containerStatuses": [running(false, 0)]}),
                ),
                "0/1",
                "Running",
                "0",
            ),
            (
                "pending, no status yet",
                pod(one("c"), json!({"phase": "Pending"})),
                "0/1",
                "Pending",
                "0",
            ),
            ("no status at all", pod(one("c"), json!(null)), "0/1", "Pending", "0"),
            (
                "container creating",
                pod(
                    one("c"),
                    json!({"phase": "Pending",
                "containerStatuses": [waiting("ContainerCreating")]}),
                ),
                "0/1",
                "ContainerCreating",
                "0",
            ),
            (
                "crash loop",
                pod(one("c"), json!({"phase": "Running", "containerStatuses": [crash]})),
                "0/1",
                "CrashLoopBackOff",
                "5 (5m ago)",
            ),
            (
                "completed",
                pod(
                    one("c"),
                    json!({"phase": "Succeeded",
                "containerStatuses": [terminated("Completed", 0)]}),
                ),
                "0/1",
                "Completed",
                "0",
            ),
            (
                "error",
                pod(
                    one("c"),
                    json!({"phase": "Failed",
                "containerStatuses": [terminated("Error", 1)]}),
                ),
                "0/1",
                "Error",
                "0",
            ),
            (
                "exit code without reason",
                pod(
                    one("c"),
                    json!({"phase": "Failed",
                "containerStatuses": [terminated("", 137)]}),
                ),
                "0/1",
                "ExitCode:137",
                "0",
            ),
            (
                "completed but one still running, pod ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [terminated("Completed", 0), running(true, 2)]}),
                ),
                "1/2",
                "Running",
                "2",
            ),
            (
                "completed but one still running, not ready",
                pod(
                    two,
                    json!({"phase": "Running",
                "containerStatuses": [terminated("Completed", 0), running(true, 0)]}),
                ),
                "1/2",
                "NotReady",
                "0",
            ),
            ("terminating", deleted, "1/1", "Terminating", "0"),
            ("deleted after it finished", deleted_done, "0/1", "Succeeded", "0"),
            ("node lost", lost, "0/1", "Unknown", "0"),
            (
                "evicted",
                pod(one("c"), json!({"phase": "Failed", "reason": "Evicted"})),
                "0/1",
                "Evicted",
                "0",
            ),
            (
                "scheduling gated",
                pod(
                    one("c"),
                    json!({"phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                "0/1",
                "SchedulingGated",
                "0",
            ),
            (
                "init 0/1",
                pod(
                    init.clone(),
                    json!({"phase": "Pending",
                "initContainerStatuses": [{"name": "i", "restartCount": 0, "state": {"running": {}}}],
                "containerStatuses": [waiting("PodInitializing")]}),
                ),
                "0/1",
                "Init:0/1",
                "0",
            ),
            (
                "init waiting for image",
                pod(
                    init.clone(),
                    json!({"phase": "Pending",
                "initContainerStatuses": [{"name": "i", "restartCount": 3, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
                ),
                "0/1",
                "Init:ImagePullBackOff",
                "3",
            ),
            (
                "init failed",
                pod(
                    init.clone(),
                    json!({"phase": "Pending",
                "initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 2}}}]}),
                ),
                "0/1",
                "Init:ExitCode:2",
                "0",
            ),
            (
                "init crash loop",
                pod(
                    init.clone(),
                    json!({"phase": "Pending",
                "initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                "0/1",
                "Init:Error",
                "0",
            ),
            (
                "init done",
                pod(
                    init,
                    json!({"phase": "Running",
                "initContainerStatuses": [{"name": "i", "restartCount": 1, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
                "containerStatuses": [running(true, 0)]}),
                ),
                "1/1",
                "Running",
                "0",
            ),
            (
                "sidecar started",
                pod(
                    sidecar,
                    json!({"phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "s", "ready": true, "started": true, "restartCount": 1,
                    "state": {"running": {}}}],
                "containerStatuses": [running(true, 1)]}),
                ),
                "2/2",
                "Running",
                "2",
            ),
        ];
        for (what, pod, ready, status, restarts) in cases {
            let c = cells(&pod, now());
            assert_eq!(
                (c[1].as_str(), c[2].as_str(), c[3].as_str()),
                (Some(ready), Some(status), Some(restarts)),
                "{what}"
            );
            assert_eq!(c[0], "web");
            assert_eq!(c[4], "10m");
        }
    }

    #[test]
    fn wide_cells_and_conditions() {
        let p = pod(
            json!({"containers": [{"name": "c"}], "nodeName": "node-1",
                           "readinessGates": [{"conditionType": "x.io/lb"}, {"conditionType": "x.io/dns"}]}),
            json!({"phase": "Succeeded", "podIP": "10.0.0.5", "nominatedNodeName": "node-2",
                           "conditions": [{"type": "x.io/lb", "status": "True"}, {"type": "x.io/dns", "status": "False"}]}),
        );
        assert_eq!(
            &cells(&p, now())[5..],
            [json!("10.0.0.5"), json!("node-1"), json!("node-2"), json!("1/2")]
        );
        assert_eq!(conditions(&p).map(|c| c[0]["reason"].clone()), Some(json!("Succeeded")));
        let bare = json!({"metadata": {"name": "p"}});
        assert_eq!(
            &cells(&bare, now())[4..],
            ["<unknown>", "<none>", "<none>", "<none>", "<none>"]
        );
        assert_eq!(conditions(&bare), None);
        let v4v6 = json!({"status": {"podIPs": [{"ip": "fd00::1"}], "podIP": "10.0.0.9"}});
        assert_eq!(cells(&v4v6, now())[5], "fd00::1");
    }
}
