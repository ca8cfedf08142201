//! Which printer a resource gets, and the printers of the other kinds:
//! columns and cells as kube-apiserver v1.32 prints nodes, events,
//! namespaces, configmaps, secrets and leases, and apiextensions' default
//! for the rest (pods in [`super::pods`], workloads in [`super::workloads`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    age, int, list, map_len, name, or, pods, since, text, time, workloads, Column,
    CREATION_TIMESTAMP_DOC,
};

/// The cells of one object at a time.
pub(super) type Cells = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// The columns and cells of one kind.
pub(super) struct Printer {
    pub(super) columns: &'static [Column],
    pub(super) cells: Cells,
    pub(super) conditions: fn(&Value) -> Option<Value>,
}

/// The printer of a resource, by group and plural.
pub(super) fn printer(resource: &orch_core::ApiResource) -> Printer {
    let (columns, cells): (&'static [Column], Cells) =
        match (resource.group.as_str(), resource.plural.as_str()) {
            ("", "pods") => {
                return Printer {
                    columns: pods::COLUMNS,
                    cells: pods::cells,
                    conditions: pods::conditions,
                }
            }
            ("", "nodes") => (NODE, node),
            ("apps", "deployments") => (workloads::DEPLOYMENT, workloads::deployment),
            ("apps", "replicasets") => (workloads::REPLICA_SET, workloads::replica_set),
            ("batch", "jobs") => (workloads::JOB, workloads::job),
            ("", "events") => (EVENT, event),
            ("", "namespaces") => (NAMESPACE, namespace),
            ("", "configmaps") => (CONFIG_MAP, config_map),
            ("", "secrets") => (SECRET, secret),
            ("coordination.k8s.io", "leases") => (LEASE, lease),
            _ => (DEFAULT, default),
        };
    Printer { columns, cells, conditions: |_| None }
}

const NODE: &[Column] = &[
    Column::name(),
    Column::string("Status", "The status of the node"),
    Column::string("Roles", "The roles of the node"),
    Column::age(),
    Column::string("Version", "Kubelet Version reported by the node."),
    Column::string("Internal-IP", NODE_ADDRESSES_DOC).wide(),
    Column::string("External-IP", NODE_ADDRESSES_DOC).wide(),
    Column::string("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).").wide(),
    Column::string("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).").wide(),
    Column::string("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).").wide(),
];
const NODE_ADDRESSES_DOC: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

/// STATUS is `Ready` / `NotReady` from the (last) Ready condition,
/// `Unknown` without one, plus `,SchedulingDisabled` when cordoned; ROLES
/// are the `node-role.kubernetes.io/<role>` label suffixes and the
/// `kubernetes.io/role` label's value, sorted, or `<none>`.
fn node(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    let ready = list(node, "/status/conditions").iter().rev().find(|c| text(c, "/type") == "Ready");
    status.push(match ready {
        Some(c) if text(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    });
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    if let Some(labels) = node.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            match key.strip_prefix("node-role.kubernetes.io/") {
                Some(role) if !role.is_empty() => {
                    roles.insert(role);
                }
                _ if key == "kubernetes.io/role" => {
                    if let Some(role) = value.as_str().filter(|v| !v.is_empty()) {
                        roles.insert(role);
                    }
                }
                _ => {}
            }
        }
    }
    let roles = roles.into_iter().collect::<Vec<_>>().join(",");
    let address = |type_: &str| {
        list(node, "/status/addresses")
            .iter()
            .find(|a| text(a, "/type") == type_)
            .map_or("<none>", |a| text(a, "/address"))
    };
    let info = |field: &str| -> Value {
        or(text(node, &format!("/status/nodeInfo/{field}")), "<unknown>").into()
    };
    vec![
        name(node),
        status.join(",").into(),
        or(&roles, "<none>").into(),
        age(node, now),
        text(node, "/status/nodeInfo/kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ]
}

const EVENT: &[Column] = &[
    Column::string("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    Column::string("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    Column::string("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    Column::string("Object", "The object that this event is about."),
    Column::string("Subobject", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.").wide(),
    Column::string("Source", "The component reporting this event. Should be a short machine understandable string.").wide(),
    Column::string("Message", "A human-readable description of the status of this operation."),
    Column::string("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)").wide(),
    Column::string("Count", "The number of times this event has occurred.").wide(),
    Column { format: "name", ..Column::string("Name", super::NAME_DOC) }.wide(),
];

/// LAST SEEN is the age of `lastTimestamp` (else of FIRST SEEN: of
/// `firstTimestamp`, else of `eventTime`; a `series` wins); OBJECT is
/// `<kind lower-cased>/<name>`; SOURCE is `component, host` (or
/// `reportingComponent, reportingInstance`); COUNT is at least 1.
fn event(e: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first = time(e, "/firstTimestamp").or_else(|| time(e, "/eventTime"));
    let mut last = time(e, "/lastTimestamp").or(first);
    let mut count = int(e, "/count").unwrap_or(0);
    if e.get("series").is_some_and(Value::is_object) {
        last = time(e, "/series/lastObservedTime");
        count = int(e, "/series/count").unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = text(e, "/involvedObject/kind").to_lowercase();
    let target = match text(e, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = or(text(e, "/source/component"), text(e, "/reportingComponent"));
    let source = match or(text(e, "/source/host"), text(e, "/reportingInstance")) {
        "" => component.to_owned(),
        instance => format!("{component}, {instance}"),
    };
    vec![
        since(last, now).into(),
        text(e, "/type").into(),
        text(e, "/reason").into(),
        target.into(),
        text(e, "/involvedObject/fieldPath").into(),
        source.into(),
        text(e, "/message").trim().into(),
        since(first, now).into(),
        count.into(),
        name(e),
    ]
}

const NAMESPACE: &[Column] =
    &[Column::name(), Column::string("Status", "The status of the namespace"), Column::age()];

/// STATUS is `status.phase`, `Active` when unset (the API's default).
fn namespace(ns: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(ns), or(text(ns, "/status/phase"), "Active").into(), age(ns, now)]
}

const CONFIG_MAP: &[Column] = &[
    Column::name(),
    Column::string("Data", "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process."),
    Column::age(),
];

/// DATA is the number of `data` and `binaryData` keys (an integer).
fn config_map(cm: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let data = map_len(cm, "/data") + map_len(cm, "/binaryData");
    vec![name(cm), data.into(), age(cm, now)]
}

const SECRET: &[Column] = &[
    Column::name(),
    Column::string("Type", "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    Column::string("Data", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
    Column::age(),
];

/// TYPE is `type` (`Opaque` when unset, the API's default); DATA the number
/// of `data` keys (an integer).
fn secret(s: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(s), or(text(s, "/type"), "Opaque").into(), map_len(s, "/data").into(), age(s, now)]
}

const LEASE: &[Column] = &[
    Column::name(),
    Column::string("Holder", "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field."),
    Column::age(),
];

/// HOLDER is `spec.holderIdentity` (empty when nobody holds it).
fn lease(l: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(l), text(l, "/spec/holderIdentity").into(), age(l, now)]
}

const DEFAULT: &[Column] = &[Column::name(), Column::typed("Age", "date", CREATION_TIMESTAMP_DOC)];

/// apiextensions' default for a custom resource: the name, and the age of
/// `.metadata.creationTimestamp` (`null` when it has none, as its JSONPath
/// column gives).
fn default(object: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let created = time(object, "/metadata/creationTimestamp");
    vec![name(object), created.map_or(Value::Null, |t| since(Some(t), now).into())]
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{meta, now};
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes() {
        let ready = json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]);
        let cases = [
            ("ready worker", json!({}), json!({}), ready.clone(), "Ready", "<none>"),
            (
                "not ready",
                json!({}),
                json!({}),
                json!([{"type": "Ready", "status": "False"}]),
                "NotReady",
                "<none>",
            ),
            (
                "unknown ready",
                json!({}),
                json!({}),
                json!([{"type": "Ready", "status": "Unknown"}]),
                "NotReady",
                "<none>",
            ),
            ("no conditions", json!({}), json!({}), json!([]), "Unknown", "<none>"),
            (
                "cordoned",
                json!({"unschedulable": true}),
                json!({}),
                ready.clone(),
                "Ready,SchedulingDisabled",
                "<none>",
            ),
            (
                "cordoned, unknown",
                json!({"unschedulable": true}),
                json!({}),
                json!(null),
                "Unknown,SchedulingDisabled",
                "<none>",
            ),
            (
                "roles",
                json!({}),
                json!({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
                    "node-role.kubernetes.io/": "", "kubernetes.io/role": "edge", "app": "x"}),
                ready,
                "Ready",
                "control-plane,edge,master",
            ),
        ];
        for (what, spec, labels, conditions, status, roles) in cases {
            let n = json!({"metadata": {"name": "n1", "labels": labels, "creationTimestamp": "2024-04-29T09:00:00Z"},
                           "spec": spec, "status": {"conditions": conditions, "nodeInfo": {"kubeletVersion": "v1.32.5"}}});
            let c = node(&n, now());
            assert_eq!(
                &c[..5],
                [json!("n1"), json!(status), json!(roles), json!("2d3h"), json!("v1.32.5")],
                "{what}"
            );
        }
        let n = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"},
                                                {"type": "InternalIP", "address": "10.0.0.1"}],
                                  "nodeInfo": {"containerRuntimeVersion": "orch://0.1", "osImage": "Debian"}}});
        assert_eq!(
            &node(&n, now())[5..],
            ["10.0.0.1", "<none>", "Debian", "<unknown>", "orch://0.1"]
        );
    }

    #[test]
    fn events() {
        let e = json!({"metadata": {"name": "web.17c"}, "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
            "source": {"component": "kubelet", "host": "node-1"}, "message": "Back-off restarting  \n",
            "firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:58:00Z", "count": 12});
        assert_eq!(
            event(&e, now()),
            [
                json!("2m"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node-1"),
                json!("Back-off restarting"),
                json!("60m"),
                json!(12),
                json!("web.17c")
            ]
        );
        // New-style event: eventTime, reporting fields, no count; a node-scoped one.
        let e = json!({"metadata": {"name": "n.1"}, "type": "Normal", "reason": "Starting",
            "involvedObject": {"kind": "Node"}, "reportingComponent": "kube-proxy",
            "eventTime": "2024-05-01T11:59:30.123456Z"});
        assert_eq!(
            event(&e, now()),
            [
                json!("29s"),
                json!("Normal"),
                json!("Starting"),
                json!("node"),
                json!(""),
                json!("kube-proxy"),
                json!(""),
                json!("29s"),
                json!(1),
                json!("n.1")
            ]
        );
        let series = json!({"series": {"count": 4, "lastObservedTime": "2024-05-01T11:59:50Z"},
                            "firstTimestamp": "2024-05-01T11:00:00Z"});
        let c = event(&series, now());
        assert_eq!((&c[0], &c[7], &c[8]), (&json!("10s"), &json!("60m"), &json!(4)));
        assert_eq!(event(&json!({}), now())[0], "<unknown>");
    }

    #[test]
    fn namespaces_config_maps_secrets_leases() {
        let t = now();
        assert_eq!(
            namespace(&json!({"metadata": meta("default")}), t),
            ["default", "Active", "2d3h"]
        );
        let ns = json!({"metadata": meta("old"), "status": {"phase": "Terminating"}});
        assert_eq!(namespace(&ns, t)[1], "Terminating");
        let cm = json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(config_map(&cm, t), [json!("cfg"), json!(3), json!("2d3h")]);
        let s = json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            secret(&s, t),
            [json!("tls"), json!("kubernetes.io/tls"), json!(2), json!("2d3h")]
        );
        assert_eq!(secret(&json!({"metadata": meta("x")}), t)[1..3], [json!("Opaque"), json!(0)]);
        let l =
            json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "sched-1_abc"}});
        assert_eq!(lease(&l, t), ["kube-scheduler", "sched-1_abc", "2d3h"]);
        assert_eq!(lease(&json!({"metadata": meta("free")}), t)[1], "");
    }

    #[test]
    fn printer_choice_and_widths() {
        let r = |group: &str, plural: &str| {
            orch_core::ApiResource::new(group, "v1", "K", plural, true, false)
        };
        for (group, plural, width, wide) in [
            ("", "pods", 9, 4),
            ("", "nodes", 10, 5),
            ("apps", "deployments", 8, 3),
            ("apps", "replicasets", 8, 3),
            ("", "events", 10, 5),
            ("", "namespaces", 3, 0),
            ("", "configmaps", 3, 0),
            ("", "secrets", 4, 0),
            ("coordination.k8s.io", "leases", 3, 0),
            ("events.k8s.io", "events", 2, 0),
            ("x.io", "pods", 2, 0),
        ] {
            let p = printer(&r(group, plural));
            assert_eq!(p.columns.len(), width, "{group}/{plural}");
            assert_eq!(
                p.columns.iter().filter(|c| c.priority == 1).count(),
                wide,
                "{group}/{plural}"
            );
            assert_eq!((p.cells)(&json!({}), now()).len(), width, "{group}/{plural}");
        }
    }
}
