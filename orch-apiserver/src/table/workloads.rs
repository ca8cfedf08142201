//! The workload printers: deployments, replicasets and jobs as
//! kube-apiserver v1.32 prints them, with their template's containers and
//! label selector.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::human_duration;
use super::{age, int, list, name, text, time, Column};

const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";

pub(super) const DEPLOYMENT: &[Column] = &[
    Column::name(),
    Column::string("Ready", "Number of the pod with ready state"),
    Column::string("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    Column::string("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    Column::age(),
    Column::string("Containers", CONTAINERS_DOC).wide(),
    Column::string("Images", IMAGES_DOC).wide(),
    Column::string("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.").wide(),
];

/// `spec.replicas`, defaulted to 1 as the API defaults it.
fn desired(object: &Value) -> i64 {
    int(object, "/spec/replicas").unwrap_or(1)
}

fn status_count(object: &Value, field: &str) -> i64 {
    int(object, &format!("/status/{field}")).unwrap_or(0)
}

/// READY is `readyReplicas/replicas`; UP-TO-DATE and AVAILABLE are integers.
pub(super) fn deployment(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(d);
    let selector =
        selector_string(d.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
    vec![
        name(d),
        format!("{}/{}", status_count(d, "readyReplicas"), desired(d)).into(),
        status_count(d, "updatedReplicas").into(),
        status_count(d, "availableReplicas").into(),
        age(d, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

pub(super) const REPLICA_SET: &[Column] = &[
    Column::name(),
    Column::typed("Desired", "integer", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"),
    Column::typed("Current", "integer", "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"),
    Column::typed("Ready", "integer", "The number of ready replicas for this replica set."),
    Column::age(),
    Column::string("Containers", CONTAINERS_DOC).wide(),
    Column::string("Images", IMAGES_DOC).wide(),
    Column::string("Selector", "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors").wide(),
];

/// DESIRED, CURRENT and READY are integers; SELECTOR is `<none>` when
/// empty, as `metav1.FormatLabelSelector` prints it.
pub(super) fn replica_set(rs: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(rs);
    let selector = match selector_string(rs.pointer("/spec/selector")) {
        Some(s) if s.is_empty() => "<none>".to_owned(),
        Some(s) => s,
        None => "<error>".to_owned(),
    };
    vec![
        name(rs),
        desired(rs).into(),
        status_count(rs, "replicas").into(),
        status_count(rs, "readyReplicas").into(),
        age(rs, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

/// The template's container names and images, comma-separated.
fn containers(workload: &Value) -> (String, String) {
    let containers = list(workload, "/spec/template/spec/containers");
    let join =
        |field: &str| containers.iter().map(|c| text(c, field)).collect::<Vec<_>>().join(",");
    (join("/name"), join("/image"))
}

/// A `LabelSelector` as `labels.Selector.String()` prints it:
/// requirements sorted by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
/// `!k`; `""` for a missing or empty selector; `None` when it is invalid.
pub(super) fn selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else { return Some(String::new()) };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").filter(|l| !l.is_null()) {
        for (k, v) in labels.as_object()? {
            requirements.push((k.clone(), format!("{k}={}", v.as_str()?)));
        }
    }
    for e in
        selector.get("matchExpressions").and_then(Value::as_array).map_or(&[][..], Vec::as_slice)
    {
        let key = e.get("key")?.as_str()?;
        let mut values = e
            .get("values")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|v| v.as_str())
            .collect::<Option<Vec<_>>>()?;
        values.sort_unstable();
        let set = || format!("({})", values.join(","));
        let s = match e.get("operator")?.as_str()? {
            "In" if !values.is_empty() => format!("{key} in {}", set()),
            "NotIn" if !values.is_empty() => format!("{key} notin {}", set()),
            "Exists" if values.is_empty() => key.to_owned(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key.to_owned(), s));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Some(requirements.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(","))
}

pub(super) const JOB: &[Column] = &[
    Column::name(),
    Column::string("Status", "Status of the job."),
    Column::string("Completions", "The completion status of the job."),
    Column::string("Duration", "Time required to complete the job."),
    Column::age(),
    Column::string("Containers", CONTAINERS_DOC).wide(),
    Column::string("Images", IMAGES_DOC).wide(),
    Column::string(
        "Selector",
        "Selector is a label query over pods that should match the pod count.",
    )
    .wide(),
];

/// STATUS from the conditions (Complete, Failed, Terminating, Suspended,
/// else Running); COMPLETIONS `succeeded/completions` (`succeeded/1 of
/// parallelism` for a work queue); DURATION from start to completion, or
/// to now while running — as kube-apiserver v1.32 prints a Job.
pub(super) fn job(j: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(j);
    let succeeded = status_count(j, "succeeded");
    let completions = match (int(j, "/spec/completions"), int(j, "/spec/parallelism")) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    };
    let duration = match (time(j, "/status/startTime"), time(j, "/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let has = |type_: &str| {
        list(j, "/status/conditions")
            .iter()
            .any(|c| text(c, "/type") == type_ && text(c, "/status") == "True")
    };
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if j.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else {
        "Running"
    };
    let selector = selector_string(j.pointer("/spec/selector")).unwrap_or_else(|| "<error>".into());
    vec![
        name(j),
        status.into(),
        completions.into(),
        duration.into(),
        age(j, now),
        names.into(),
        images.into(),
        if selector.is_empty() { "<none>".into() } else { selector.into() },
    ]
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{meta, now};
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_and_replica_sets() {
        let template = json!({"spec": {"containers": [{"name": "web", "image": "nginx:1.27"},
                                                     {"name": "log", "image": "fluentbit"}]}});
        let d = json!({"metadata": meta("web"),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}}, "template": template},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            deployment(&d, now()),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2d3h"),
                json!("web,log"),
                json!("nginx:1.27,fluentbit"),
                json!("app=web,tier=fe")
            ]
        );
        let fresh = json!({"metadata": {"name": "new"}, "spec": {}});
        assert_eq!(
            deployment(&fresh, now()),
            [
                json!("new"),
                json!("0/1"),
                json!(0),
                json!(0),
                json!("<unknown>"),
                json!(""),
                json!(""),
                json!("")
            ]
        );

        let rs = json!({"metadata": meta("web-7d4b8c6f5"),
            "spec": {"replicas": 3, "template": template, "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "pod-template-hash", "operator": "In", "values": ["b", "a"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}},
            "status": {"replicas": 3, "readyReplicas": 1}});
        assert_eq!(
            replica_set(&rs, now()),
            [
                json!("web-7d4b8c6f5"),
                json!(3),
                json!(3),
                json!(1),
                json!("2d3h"),
                json!("web,log"),
                json!("nginx:1.27,fluentbit"),
                json!("app=web,!canary,pod-template-hash in (a,b)")
            ]
        );
        assert_eq!(replica_set(&json!({}), now())[7], "<none>");
        let bad =
            json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}});
        assert_eq!(replica_set(&bad, now())[7], "<error>");
        assert_eq!(deployment(&bad, now())[7], "<invalid>");
    }

    #[test]
    fn selectors() {
        for (selector, want) in [
            (json!(null), Some("")),
            (json!({}), Some("")),
            (json!({"matchLabels": {"b": "2", "a": "1"}}), Some("a=1,b=2")),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]},
                                         {"key": "app", "operator": "Exists"}]}),
                Some("app,env notin (prod)"),
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                None,
            ),
            (json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}), None),
            (json!({"matchLabels": {"a": 1}}), None),
        ] {
            assert_eq!(selector_string(Some(&selector)).as_deref(), want, "{selector}");
        }
    }

    #[test]
    fn jobs() {
        let template = json!({"spec": {"containers": [{"name": "pi", "image": "perl"}]}});
        let start = "2026-11-20T10:00:00Z";
        let running = json!({"metadata": meta("pi"), "spec": {"completions": 5, "template": template},
            "status": {"succeeded": 2, "startTime": start}});
        let row = job(&running, now());
        assert_eq!(&row[..3], [json!("pi"), json!("Running"), json!("2/5")]);
        assert!(!row[3].as_str().unwrap().is_empty(), "a running job's duration counts to now");
        let done = json!({"metadata": meta("pi"), "spec": {"completions": 5, "template": template},
            "status": {"succeeded": 5, "startTime": start, "completionTime": "2026-11-20T10:01:30Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(
            &job(&done, now())[..4],
            [json!("pi"), json!("Complete"), json!("5/5"), json!("90s")]
        );
        let queue = json!({"metadata": meta("q"), "spec": {"parallelism": 3},
            "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(
            &job(&queue, now())[..4],
            [json!("q"), json!("Failed"), json!("0/1 of 3"), json!("")]
        );
    }
}
