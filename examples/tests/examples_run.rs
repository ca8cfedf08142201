//! Each example runs to completion and says what it did.

use std::process::Command;

mod support;

use orch_core::testing::wait_for;
use support::example_command;
use support::kubectl::cluster_with_api;
use support::running::{RunningExample, STEP_DEADLINE};

/// Runs an example with arguments: (exit code, stdout, stderr).
fn run_with(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    become_subreaper();
    let out = example_command(name).args(args).output().expect("the example runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_example(name: &str) -> String {
    let (code, stdout, stderr) = run_with(name, &[]);
    assert_eq!(code, Some(0), "example {name} failed:\n{stdout}\n{stderr}");
    stdout
}

/// Makes this test process the subreaper of what it starts: a process
/// the example leaves behind becomes this process's child when the example
/// exits, instead of init's, so that [`assert_no_leftover_pods`] finds the
/// leftovers of this test's runs and not those of tests running beside it.
fn become_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
}

/// No process of a finished cluster run is left (its pods re-run this
/// example with `--serve-http`, or run `sleep 3600`): none is a live
/// orphan handed to this process (see [`become_subreaper`]).
fn assert_no_leftover_pods() {
    let me = std::process::id().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After the command's closing parenthesis: state, then the parent's PID.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let (state, parent) = (fields.next()?, fields.next()?);
            if parent != me || state == "Z" {
                return None;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.contains("--serve-http") || cmdline.contains("sleep 3600"))
                .then(|| format!("{pid}: {cmdline}"))
        })
        .collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// The leftover check itself: an orphaned `sleep 3600` started by this
/// test is found (and then killed).
#[test]
fn the_leftover_check_finds_an_orphaned_sleeper() {
    become_subreaper();
    let out = Command::new("sh")
        .args(["-c", "sleep 3600 >/dev/null 2>&1 & echo $!"])
        .output()
        .expect("sh runs");
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("the sleeper's pid");
    let found = std::panic::catch_unwind(assert_no_leftover_pods);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
        .expect("kill the sleeper");
    let message = found.expect_err("the orphaned sleeper was not found");
    let message = message.downcast_ref::<String>().expect("a panic message");
    assert!(message.contains(&format!("{pid}: sleep 3600")), "{message}");
}

#[test]
fn the_custom_controller_example_manages_its_pages() {
    let out = run_example("custom_controller");
    assert!(out.contains("created, updated and deleted"), "{out}");
}

#[test]
fn the_cluster_becomes_ready_and_every_pod_answers_with_its_name() {
    let (code, out, err) = run_with("cluster", &["--exit-when-ready"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("applied Deployment default/web"), "{out}");
    let answers =
        out.lines().filter(|l| l.contains("is ready at http://") && l.contains("answered")).count();
    assert_eq!(answers, 3, "{out}");
    assert!(out.contains("3 pod address(es) answered with their pod names"), "{out}");
    assert_no_leftover_pods();
}

#[test]
fn the_cluster_demo_heals_rolls_out_and_rolls_back() {
    let (code, out, err) = run_with("cluster", &["--demo"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for step in ["demo 1/3", "demo 2/3", "demo 3/3"] {
        assert!(
            out.lines().any(|l| l.starts_with(step) && l.ends_with("check passed")),
            "{step} did not pass:\n{out}"
        );
    }
    assert!(out.contains("demo complete"), "{out}");
    assert_no_leftover_pods();
}

#[test]
fn the_cluster_runs_plain_commands_with_placement_constraints() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/sleepers.yaml");
    let (code, out, err) = run_with("cluster", &["--manifest", manifest, "--exit-when-ready"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("all workloads ready"), "{out}");
    assert_no_leftover_pods();
}

#[test]
fn an_unsatisfiable_workload_fails_fast_with_the_schedulers_reason() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/too-big.yaml");
    let (code, out, err) = run_with("cluster", &["--manifest", manifest, "--exit-when-ready"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    // The fail-fast path (not the 60 s readiness timeout) names the
    // scheduler's reason; the timeout path reports "not ready" instead.
    assert!(
        err.contains("cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu."),
        "{err}"
    );
    assert!(!err.contains("not ready ("), "{err}");
    assert_no_leftover_pods();
}

#[test]
fn the_cluster_example_refuses_a_bad_manifest_with_exit_code_2() {
    let path = std::env::temp_dir().join(format!("orch-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &path,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: three}\n",
    )
    .expect("temp file");
    let (code, _, stderr) = run_with("cluster", &["--manifest", &path.to_string_lossy()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("manifest document 0 (Deployment web): spec.replicas"), "{stderr}");
}

#[test]
fn the_custom_plugin_example_places_the_pod_on_the_cheapest_node() {
    let out = run_example("custom_plugin");
    assert!(out.contains("web-0 was placed on spot-1"), "{out}");
}

/// `--serve-etcd`: etcdctl (Debian's `etcd-client`) reads the running
/// cluster's objects; Ctrl-C then stops everything cleanly.
#[tokio::test]
async fn the_cluster_serves_its_store_to_etcdctl() {
    become_subreaper();
    let cluster = RunningExample::start("cluster", &["--serve-etcd", "127.0.0.1:0"]);
    let endpoint = cluster
        .line_where("the example to say where it serves the etcd API", |line| {
            let rest = line.strip_prefix("etcd API on ")?;
            Some(rest.split(':').take(2).collect::<Vec<_>>().join(":"))
        })
        .await;
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([&format!("--endpoints={endpoint}"), "get", "--prefix", "/registry/", "--keys-only"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run etcdctl (install the etcd-client package): {e}"));
    let keys = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = cluster.interrupt().await;
    assert!(out.status.success(), "etcdctl: {}", String::from_utf8_lossy(&out.stderr));
    for node in ["node-1", "node-2", "node-3"] {
        assert!(keys.contains(&format!("/registry/core/nodes/{node}\n")), "{keys}");
    }
    assert!(status.success(), "exit status after Ctrl-C: {status}");
    assert_no_leftover_pods();
}

/// `--metrics-addr`: a scrape of the running cluster, read with a
/// Prometheus text parser, has every component's metrics under
/// Kubernetes' and etcd's names, with figures that match the cluster.
#[tokio::test]
async fn the_cluster_serves_every_components_metrics() {
    become_subreaper();
    let cluster = RunningExample::start("cluster", &["--metrics-addr", "127.0.0.1:0"]);
    let url = cluster
        .line_where("the example to say where it serves metrics", |line| {
            line.strip_prefix("metrics on ").map(str::to_owned)
        })
        .await;
    let scrape = || {
        let mut response = ureq::get(&url).call().map_err(|e| format!("GET {url}: {e}"))?;
        let text = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .map_err(|e| format!("not Prometheus text: {e}"))
    };
    let sum = |s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]| -> f64 {
        s.samples
            .iter()
            .filter(|x| {
                x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))
            })
            .map(|x| match &x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(b) => b.last().map_or(0.0, |b| b.count),
                _ => 0.0,
            })
            .sum()
    };
    // The default manifest: a Deployment of 3 replicas on 3 nodes, a
    // 3-member RaftStore.
    let s = wait_for("the 3 replicas scheduled, running and counted", STEP_DEADLINE, || async {
        let s = scrape()?;
        let scheduled = sum(&s, "scheduler_schedule_attempts_total", &[("result", "scheduled")]);
        let running = sum(&s, "kubelet_running_pods", &[]);
        let started = sum(&s, "kubelet_pod_start_duration_seconds_count", &[]);
        if scheduled >= 3.0 && running == 3.0 && started >= 3.0 {
            Ok(s)
        } else {
            Err(format!("scheduled {scheduled}, running {running}, started {started}"))
        }
    })
    .await;
    assert_eq!(sum(&s, "etcd_server_has_leader", &[]), 3.0, "every member knows a leader");
    assert_eq!(sum(&s, "etcd_server_is_leader", &[]), 1.0, "one leader");
    assert!(sum(&s, "etcd_disk_wal_fsync_duration_seconds_count", &[]) > 0.0);
    assert!(sum(&s, "etcd_mvcc_db_total_size_in_bytes", &[]) > 0.0);
    assert!(sum(&s, "etcd_server_proposals_applied_total", &[]) > 0.0);
    for queue in ["replicaset", "deployment", "garbagecollector"] {
        assert!(sum(&s, "workqueue_adds_total", &[("name", queue)]) > 0.0, "queue {queue}");
        assert!(
            s.samples
                .iter()
                .any(|x| x.metric == "workqueue_depth" && x.labels.get("name") == Some(queue)),
            "workqueue_depth of {queue}"
        );
    }
    assert_eq!(sum(&s, "scheduler_pending_pods", &[("queue", "unschedulable")]), 0.0);
    let status = cluster.interrupt().await;
    assert!(status.success(), "exit status after Ctrl-C: {status}");
    assert_no_leftover_pods();
}

/// `--serve-api`: kubectl, pointed at the running cluster by the
/// kubeconfig it wrote, sees the Deployment's pods Running, scales the
/// Deployment, and the controllers and node agents follow.
#[tokio::test]
async fn kubectl_drives_the_cluster_through_its_api_server() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let (cluster, kubectl) =
        cluster_with_api(dir.path(), &["--audit-log-path", audit.to_str().unwrap()]).await;
    let kubectl = |args: &[&str]| kubectl.run(args);
    let running = |n: usize| {
        let kubectl = &kubectl;
        move || {
            let out = kubectl(&["get", "pods", "-l", "app=web"]);
            std::future::ready(out.and_then(|out| {
                let rows = out.lines().skip(1).filter(|l| l.contains(" Running ")).count();
                if rows == n {
                    Ok(())
                } else {
                    Err(format!("{rows} Running, want {n}:\n{out}"))
                }
            }))
        }
    };
    wait_for("kubectl to show the 3 replicas Running", STEP_DEADLINE, running(3)).await;
    // kubectl logs reads a pod's output from its node's runtime.
    let pods = kubectl(&["get", "pods", "-l", "app=web", "-o", "name"]).unwrap();
    let pod = pods.lines().next().expect("a pod").to_owned();
    let logs = kubectl(&["logs", &pod]).unwrap();
    assert!(logs.starts_with("listening on 127."), "kubectl logs {pod}: {logs:?}");
    assert_eq!(kubectl(&["logs", &pod, "--tail=1"]).unwrap().lines().count(), 1);
    let scaled = kubectl(&["scale", "deployment", "web", "--replicas=4"]).unwrap();
    assert_eq!(scaled.trim(), "deployment.apps/web scaled");
    wait_for("kubectl to show 4 replicas Running", STEP_DEADLINE, running(4)).await;
    wait_for("the Deployment to report 4 ready", STEP_DEADLINE, || {
        std::future::ready(
            kubectl(&["get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"])
                .and_then(|r| if r == "4" { Ok(()) } else { Err(r) }),
        )
    })
    .await;
    let status = cluster.interrupt().await;
    assert!(status.success(), "exit status after Ctrl-C: {status}");
    let audited = std::fs::read_to_string(&audit).unwrap();
    assert!(
        audited
            .lines()
            .any(|l| l.contains("\"verb\":\"patch\"") && l.contains("\"subresource\":\"scale\"")),
        "kubectl scale's PATCH is in the audit log:\n{audited}"
    );
    assert_no_leftover_pods();
}

/// The manifests of the scripted kubectl session: a ConfigMap and a
/// Deployment of `sleep`, applied together.
const SESSION: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: api-settings
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: api
        image: busybox
        command: [sh, -c, sleep 3600]
";

/// A user's everyday kubectl session against the cluster example, each
/// output asserted: apply -f (two documents), rollout status, a second
/// apply (a strategic merge patch), rollout history and undo (a JSON
/// patch), describe, get -o wide/json/yaml, get -w and logs -f (the first
/// lines of the streams), auth can-i, create namespace, delete -f.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_kubectl_session_drives_the_cluster() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let (cluster, k) = cluster_with_api(dir.path(), &[]).await;
    let manifest = dir.path().join("session.yaml");
    let manifest = manifest.to_str().unwrap();
    std::fs::write(manifest, SESSION).unwrap();
    assert_eq!(
        k.ok(&["apply", "-f", manifest]).trim(),
        "configmap/api-settings created\ndeployment.apps/api created"
    );
    let rolled = k.ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    assert!(rolled.contains("deployment \"api\" successfully rolled out"), "{rolled}");

    std::fs::write(manifest, SESSION.replace("sleep 3600", "sleep 3601")).unwrap();
    assert_eq!(
        k.ok(&["apply", "-f", manifest]).trim(),
        "configmap/api-settings unchanged\ndeployment.apps/api configured"
    );
    let rolled = k.ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    assert!(rolled.contains("successfully rolled out"), "{rolled}");
    let history = k.ok(&["rollout", "history", "deployment/api"]);
    let revisions: Vec<&str> =
        history.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["deployment.apps/api", "REVISION", "1", "2"], "{history}");
    assert_eq!(
        k.ok(&["rollout", "undo", "deployment/api"]).trim(),
        "deployment.apps/api rolled back"
    );
    let rolled = k.ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    assert!(rolled.contains("successfully rolled out"), "{rolled}");
    let command = k.ok(&[
        "get",
        "deploy",
        "api",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].command[2]}",
    ]);
    assert_eq!(command, "sleep 3600", "undo restored revision 1's template");

    let described = k.ok(&["describe", "deployment", "api"]);
    let name = described.lines().find(|l| l.starts_with("Name:"));
    assert!(name.is_some_and(|l| l.ends_with(" api")), "{described}");
    for want in ["Replicas:", "2 desired", "NewReplicaSet:"] {
        assert!(described.contains(want), "describe lacks {want:?}:\n{described}");
    }
    let wide = k.ok(&["get", "pods", "-l", "app=api", "-o", "wide"]);
    assert!(wide.lines().next().is_some_and(|h| h.contains("NODE")), "{wide}");
    wait_for("the old pods to go after the undo", STEP_DEADLINE, || {
        let pods = k.run(&["get", "pods", "-l", "app=api", "-o", "name"]);
        std::future::ready(pods.and_then(|p| if p.lines().count() == 2 { Ok(()) } else { Err(p) }))
    })
    .await;
    let listed: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "pods", "-l", "app=api", "-o", "json"])).unwrap();
    assert_eq!(listed["kind"], "List");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2), "{listed}");
    assert!(k.ok(&["get", "configmap", "api-settings", "-o", "yaml"]).contains("mode: fast"));
    let watched = k.first_lines(&["get", "pods", "-l", "app=api", "-w"], 2);
    assert!(watched[0].starts_with("NAME "), "{watched:?}");
    let web = k.ok(&["get", "pods", "-l", "app=web", "-o", "name"]);
    let web = web.lines().next().expect("a web pod");
    let followed = k.first_lines(&["logs", "-f", web], 1);
    assert!(followed[0].starts_with("listening on 127."), "{followed:?}");

    // kubectl drain: cordon (a patch), then an Eviction (protobuf) for
    // each pod; the ReplicaSets put them back elsewhere.
    let drained = k.ok(&["drain", "node-3", "--ignore-daemonsets", "--timeout=60s"]);
    assert!(drained.trim_end().ends_with("node/node-3 drained"), "{drained}");
    assert_eq!(k.ok(&["get", "node", "node-3", "-o", "jsonpath={.spec.unschedulable}"]), "true");
    let on_node_3 = k.ok(&["get", "pods", "--field-selector=spec.nodeName=node-3", "-o", "name"]);
    assert!(on_node_3.is_empty(), "{on_node_3}");
    assert_eq!(k.ok(&["uncordon", "node-3"]).trim(), "node/node-3 uncordoned");
    // A Job from examples/manifests: it runs to completion, its pods print 42.
    let job = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/job.yaml");
    assert_eq!(k.ok(&["apply", "-f", job]).trim(), "job.batch/answer created");
    let waited = k.ok(&["wait", "--for=condition=complete", "job/answer", "--timeout=60s"]);
    assert_eq!(waited.trim(), "job.batch/answer condition met");
    assert_eq!(k.ok(&["get", "job", "answer", "-o", "jsonpath={.status.succeeded}"]), "3");
    let jobs = k.ok(&["get", "jobs"]);
    let header: Vec<&str> = jobs.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], "{jobs}");
    let row: Vec<&str> = jobs.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(&row[..3], ["answer", "Complete", "3/3"], "{jobs}");
    let pods = k.ok(&["get", "pods", "-l", "batch.kubernetes.io/job-name=answer", "-o", "name"]);
    assert_eq!(pods.lines().count(), 3, "{pods}");
    let first = pods.lines().next().unwrap_or_default();
    assert_eq!(k.ok(&["logs", first]).trim(), "42");
    // A Job whose pod exits 1 is retried once (backoffLimit 1, after the
    // 10 s back-off), then fails.
    let failing = dir.path().join("failing.yaml");
    std::fs::write(
        &failing,
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: doomed}\nspec:\n  backoffLimit: 1\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - {name: c, image: busybox, command: [sh, -c, exit 1]}\n",
    )
    .unwrap();
    k.ok(&["apply", "-f", failing.to_str().unwrap()]);
    let waited = k.ok(&["wait", "--for=condition=failed", "job/doomed", "--timeout=90s"]);
    assert_eq!(waited.trim(), "job.batch/doomed condition met");
    let reason = "jsonpath={.status.failed} {.status.conditions[?(@.type==\"Failed\")].reason}";
    assert_eq!(k.ok(&["get", "job", "doomed", "-o", reason]), "2 BackoffLimitExceeded");
    assert_eq!(k.ok(&["auth", "can-i", "delete", "deployments"]).trim(), "yes");
    assert_eq!(k.ok(&["create", "namespace", "team-a"]).trim(), "namespace/team-a created");
    let deleted = k.ok(&["delete", "-f", manifest]);
    assert_eq!(
        deleted.trim(),
        "configmap \"api-settings\" deleted\ndeployment.apps \"api\" deleted"
    );
    let gone = k.run(&["get", "deployment", "api"]).unwrap_err();
    assert!(gone.contains("NotFound"), "{gone}");
    let status = cluster.interrupt().await;
    assert!(status.success(), "exit status after Ctrl-C: {status}");
    assert_no_leftover_pods();
}

/// A node agent in a process of its own (the `node_agent` example) joins
/// the cluster through its API server with a node certificate, as a
/// kubelet does, and runs the pods scheduled to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_agent_in_another_process_joins_through_the_api_server() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let node_kubeconfig = dir.path().join("node-remote.kubeconfig");
    let node_arg = format!("node-remote={}", node_kubeconfig.display());
    let (cluster, k) = cluster_with_api(dir.path(), &["--node-kubeconfig-out", &node_arg]).await;
    let agent = RunningExample::start(
        "node_agent",
        &["--kubeconfig", node_kubeconfig.to_str().unwrap(), "--name", "node-remote"],
    );
    let ready = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
    wait_for("node-remote to register and be Ready", STEP_DEADLINE, || {
        let out = k.run(&["get", "node", "node-remote", "-o", ready]);
        std::future::ready(out.and_then(|s| if s == "True" { Ok(()) } else { Err(s) }))
    })
    .await;
    let manifest = dir.path().join("remote.yaml");
    std::fs::write(
        &manifest,
        SESSION
            .split("---\n")
            .nth(1)
            .unwrap()
            .replace("name: api", "name: remote")
            .replace("app: api", "app: remote")
            .replace("replicas: 2", "replicas: 1")
            .replace(
                "      terminationGracePeriodSeconds: 1",
                "      terminationGracePeriodSeconds: 1\n      nodeSelector: {kubernetes.io/hostname: node-remote}",
            ),
    )
    .unwrap();
    assert_eq!(
        k.ok(&["apply", "-f", manifest.to_str().unwrap()]).trim(),
        "deployment.apps/remote created"
    );
    let placed = "jsonpath={.items[*].spec.nodeName} {.items[*].status.phase}";
    wait_for("the remote node's pod to run", STEP_DEADLINE, || {
        let out = k.run(&["get", "pods", "-l", "app=remote", "-o", placed]);
        std::future::ready(
            out.and_then(|s| if s == "node-remote Running" { Ok(()) } else { Err(s) }),
        )
    })
    .await;
    k.ok(&["delete", "deployment", "remote"]);
    wait_for("the remote node to stop its pod", STEP_DEADLINE, || {
        let out = k.run(&["get", "pods", "-l", "app=remote", "-o", "name"]);
        std::future::ready(out.and_then(|s| if s.is_empty() { Ok(()) } else { Err(s) }))
    })
    .await;
    let status = agent.interrupt().await;
    assert!(status.success(), "the node agent's exit status after Ctrl-C: {status}");
    let status = cluster.interrupt().await;
    assert!(status.success(), "exit status after Ctrl-C: {status}");
    assert_no_leftover_pods();
}

/// The default store is a 3-member RaftStore; with `--store-dir` its
/// members keep their logs, so a second run finds the Deployment and the
/// same pods again (and starts their containers anew).
#[test]
fn the_cluster_keeps_its_objects_in_its_store_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_dir = dir.path().to_str().expect("a UTF-8 path");
    let pods = |out: &str| {
        let mut names: Vec<String> = out
            .lines()
            .filter(|l| l.contains("is ready at http://"))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    let (code, first, err) = run_with("cluster", &["--exit-when-ready", "--store-dir", store_dir]);
    assert_eq!(code, Some(0), "{first}\n{err}");
    assert!(first.contains("store: RaftStore, 3 member(s)"), "{first}");
    assert!(first.contains("applied Deployment default/web"), "{first}");
    let (code, second, err) = run_with("cluster", &["--exit-when-ready", "--store-dir", store_dir]);
    assert_eq!(code, Some(0), "{second}\n{err}");
    assert!(second.contains("unchanged: deployments/default/web already exists"), "{second}");
    assert_eq!(pods(&first).len(), 3, "{first}");
    assert_eq!(pods(&second), pods(&first), "the same pods, from the store:\n{second}");
    assert_no_leftover_pods();
}

/// `--store mem` runs the same cluster on a MemStore.
#[test]
fn the_cluster_runs_on_a_mem_store_too() {
    let (code, out, err) = run_with("cluster", &["--exit-when-ready", "--store", "mem"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("store: MemStore"), "{out}");
    assert!(out.contains("3 pod address(es) answered with their pod names"), "{out}");
    assert_no_leftover_pods();
}

/// `--runtime cri`: the cluster's one node runs the busybox httpd pod on a
/// real containerd (started for this test, with the pause and busybox
/// images imported); the pod answers with its name on the node's network,
/// and shutdown leaves no sandbox behind.
#[cfg(feature = "cri")]
#[test]
fn the_cluster_runs_its_pods_on_containerd_with_runtime_cri() {
    use orch_runtime::cri::CriRuntime;
    use orch_runtime::runtime::{PodSandboxFilter, Runtime};
    use orch_runtime::testing::{ContainerdProcess, ContainerdProcessConfig};
    let dir = tempfile::Builder::new().prefix("orch-cri-example-").tempdir().unwrap();
    let config = ContainerdProcessConfig::new(dir.path().join("containerd"));
    let containerd = ContainerdProcess::start_with_busybox_images(config)
        .unwrap_or_else(|e| panic!("containerd did not start with its images: {e}"));
    let socket = containerd.socket().display().to_string();
    let (code, out, err) =
        run_with("cluster", &["--runtime", "cri", "--cri-socket", &socket, "--exit-when-ready"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("1 node(s) on the CRI runtime"), "{out}");
    assert!(out.contains("is ready at http://127.0.0.1:18080/ and answered \"web-"), "{out}");
    let left = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let rt = CriRuntime::connect(containerd.runtime_config()).await.unwrap();
        rt.list_pod_sandbox(&PodSandboxFilter::default()).await.unwrap()
    });
    assert!(left.is_empty(), "sandboxes left behind: {left:?}");

    // One CRI runtime is one node.
    let (code, _, err) = run_with("cluster", &["--runtime", "cri", "--nodes", "2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--runtime cri runs one node"), "{err}");
}
