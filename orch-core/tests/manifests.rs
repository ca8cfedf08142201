//! Manifests: real Kubernetes YAML in, typed objects out, through the Api and
//! back unchanged; bad documents rejected with the document and field named.

use std::sync::Arc;

use orch_core::kinds::deployment::DeploymentStrategyType;
use orch_core::kinds::pod::RestartPolicy;
use orch_core::manifest::{self, Registry};
use orch_core::{Api, ConfigMap, Deployment, DynamicObject, Error, IntOrString, Pod, Secret};
use orch_store::MemStore;

const DESIGN_DEPLOYMENT: &str = include_str!("../../examples/manifests/web.yaml");
const REAL_WORLD: &str = include_str!("fixtures/real-world-deployment.yaml");

fn store() -> Arc<MemStore> {
    Arc::new(MemStore::new())
}

#[tokio::test]
async fn the_design_deployment_parses_and_round_trips_through_the_api() {
    let docs = manifest::parse(DESIGN_DEPLOYMENT, &Registry::builtin()).unwrap();
    assert_eq!(docs.len(), 1);
    assert!(docs[0].unknown_fields.is_empty(), "{:?}", docs[0].unknown_fields);
    let web: Deployment = docs[0].parse().unwrap();
    assert_eq!(web.metadata.name, "web");
    assert_eq!(web.spec.replicas, Some(3));
    assert_eq!(web.spec.template.spec.containers[0].image, "myapp:1.4.0");

    let api: Api<Deployment> = Api::namespaced(store(), "default");
    let created = api.create(&web).await.unwrap();
    assert_eq!(created.api_version, "apps/v1");
    assert_eq!(created.kind, "Deployment");
    let got = api.get("web").await.unwrap();
    assert_eq!(got, created);
    // Everything the manifest said is what was stored.
    assert_eq!(got.spec, web.spec);
    assert_eq!(got.metadata.labels, web.metadata.labels);
}

#[tokio::test]
async fn a_real_world_deployment_parses_fully_and_round_trips() {
    let docs = manifest::parse(REAL_WORLD, &Registry::builtin()).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d.resource.kind.as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "Secret", "Deployment"]);

    let d: Deployment = docs[2].parse().unwrap();
    let spec = &d.spec;
    assert_eq!(spec.replicas, Some(6));
    assert_eq!(spec.revision_history_limit, Some(5));
    assert_eq!(spec.progress_deadline_seconds, Some(300));
    assert_eq!(spec.min_ready_seconds, Some(10));
    let strategy = spec.strategy.as_ref().unwrap();
    assert_eq!(strategy.type_, Some(DeploymentStrategyType::RollingUpdate));
    let rolling = strategy.rolling_update.as_ref().unwrap();
    assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())));
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));
    assert_eq!(spec.selector.match_expressions[0].values, ["backend"]);

    let pod = &spec.template.spec;
    assert_eq!(pod.priority, Some(1000));
    assert_eq!(pod.restart_policy, Some(RestartPolicy::Always));
    assert_eq!(pod.termination_grace_period_seconds, Some(45));
    assert_eq!(pod.node_selector["kubernetes.io/os"], "linux");
    let affinity = pod.affinity.as_ref().unwrap();
    let node_affinity = affinity.node_affinity.as_ref().unwrap();
    assert_eq!(
        node_affinity.required.as_ref().unwrap().node_selector_terms[0].match_expressions[0].values,
        ["zone-a", "zone-b"]
    );
    assert_eq!(node_affinity.preferred[0].weight, 50);
    assert_eq!(affinity.pod_affinity.as_ref().unwrap().preferred[0].weight, 20);
    assert_eq!(
        affinity.pod_anti_affinity.as_ref().unwrap().required[0].topology_key,
        "kubernetes.io/hostname"
    );
    assert_eq!(pod.tolerations.len(), 2);
    assert_eq!(pod.tolerations[1].toleration_seconds, Some(120));
    assert_eq!(pod.topology_spread_constraints[0].max_skew, 1);
    assert_eq!(pod.init_containers[0].command, ["/app/checkout", "migrate"]);

    let c = &pod.containers[0];
    assert_eq!(c.args, ["--listen=:8080", "--metrics=:9090"]);
    assert_eq!(c.working_dir.as_deref(), Some("/app"));
    assert_eq!(c.ports[0].name.as_deref(), Some("http"));
    assert_eq!(c.ports[1].container_port, 9090);
    let resources = c.resources.as_ref().unwrap();
    assert_eq!(resources.requests["cpu"].as_millis().unwrap(), 250);
    assert_eq!(resources.requests["memory"].as_bytes().unwrap(), 256 << 20);
    assert_eq!(resources.limits["cpu"].as_millis().unwrap(), 1500);
    assert_eq!(resources.limits["memory"].as_bytes().unwrap(), 1 << 30);
    assert_eq!(resources.limits["ephemeral-storage"].as_bytes().unwrap(), 2_000_000_000);
    let env = &c.env;
    assert_eq!(
        env[0].value_from.as_ref().unwrap().config_map_key_ref.as_ref().unwrap().key,
        "LOG_LEVEL"
    );
    assert_eq!(
        env[1].value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap().name,
        "checkout-db"
    );
    assert_eq!(
        env[2].value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path,
        "metadata.name"
    );
    assert_eq!(env[3].value.as_deref(), Some("eu-west"));
    let startup = c.startup_probe.as_ref().unwrap();
    assert_eq!(startup.http_get.as_ref().unwrap().port, IntOrString::String("http".into()));
    assert_eq!(startup.failure_threshold, Some(30));
    let liveness = c.liveness_probe.as_ref().unwrap();
    assert_eq!(liveness.http_get.as_ref().unwrap().http_headers[0].value, "liveness");
    assert_eq!(liveness.timeout_seconds, Some(2));
    let readiness = c.readiness_probe.as_ref().unwrap();
    assert_eq!(readiness.tcp_socket.as_ref().unwrap().port, IntOrString::Int(8080));
    assert_eq!(readiness.success_threshold, Some(2));
    assert_eq!(
        pod.containers[1].liveness_probe.as_ref().unwrap().exec.as_ref().unwrap().command,
        ["cat", "/tmp/healthy"]
    );

    // Volumes and their mounts are modelled.
    assert_eq!(pod.volumes[0].name, "cache");
    assert!(pod.volumes[0].empty_dir.is_some());
    assert_eq!(pod.containers[0].volume_mounts[0].mount_path, "/cache");

    // Fields orch does not model are reported, not silently dropped.
    let unknown = &docs[2].unknown_fields;
    let path = "spec.template.spec.securityContext";
    assert!(unknown.iter().any(|u| u == path), "{path} not in {unknown:?}");
    assert!(!unknown.iter().any(|u| u.contains("volume")), "{unknown:?}");

    let secret: Secret = docs[1].parse().unwrap();
    assert_eq!(secret.data["password"].0, b"s3cr3t");
    let config: ConfigMap = docs[0].parse().unwrap();
    assert_eq!(config.data["FEATURE_FLAGS"], "fast-path,new-cart");

    // Through the Api and back: what was parsed is what is read.
    let store = store();
    let deployments: Api<Deployment> = Api::namespaced(store.clone(), "shop");
    let created = deployments.create(&d).await.unwrap();
    let got = deployments.get("checkout").await.unwrap();
    assert_eq!(got, created);
    assert_eq!(got.spec, d.spec);
    assert_eq!(got.metadata.annotations, d.metadata.annotations);
    let secrets: Api<Secret> = Api::namespaced(store.clone(), "shop");
    secrets.create(&secret).await.unwrap();
    assert_eq!(secrets.get("checkout-db").await.unwrap().data, secret.data);
    // And through the dynamic Api too.
    let dynamic = Api::dynamic(store, docs[0].resource.clone(), Some("shop"));
    dynamic.create(&docs[0].object).await.unwrap();
    let cm: DynamicObject = dynamic.get("checkout-config").await.unwrap();
    assert_eq!(cm.data["data"]["LOG_LEVEL"], "info");
}

/// File modes as kubectl reads them: YAML's leading-zero octal (`0644`,
/// YAML 1.1) and JSON's decimal (`420`) are the same mode.
#[test]
fn volume_file_modes_read_as_kubectl_reads_them() {
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: busybox}]
  volumes:
    - name: conf
      configMap:
        name: app
        defaultMode: 0644
        items: [{key: a, path: a, mode: 0400}]
    - name: creds
      secret: {secretName: db, defaultMode: 420}
";
    let docs = manifest::parse(yaml, &Registry::builtin()).unwrap();
    let pod: Pod = docs[0].parse().unwrap();
    let conf = pod.spec.volumes[0].config_map.as_ref().unwrap();
    assert_eq!(conf.default_mode, Some(0o644));
    assert_eq!(conf.items[0].mode, Some(0o400));
    assert_eq!(pod.spec.volumes[1].secret.as_ref().unwrap().default_mode, Some(0o644));
    for bad in ["rw", "0999", "\"644\""] {
        let text = yaml.replace("defaultMode: 0644", &format!("defaultMode: {bad}"));
        let err = manifest::parse(&text, &Registry::builtin())
            .and_then(|d| d[0].parse::<Pod>())
            .expect_err(bad);
        assert!(err.to_string().contains("file mode"), "{bad}: {err}");
    }
}

#[test]
fn json_documents_and_lists_are_read_too() {
    let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
         "spec": {"containers": [{"name": "c", "image": "i"}]}}
    ]}"#;
    let docs = manifest::parse(json, &Registry::builtin()).unwrap();
    assert_eq!(docs.len(), 2);
    let pod: Pod = docs[1].parse().unwrap();
    assert_eq!(pod.spec.containers[0].image, "i");
    assert!(docs[0].parse::<Pod>().is_err(), "a ConfigMap is not a Pod");
    let empty = manifest::parse("---\n---\n", &Registry::builtin()).unwrap();
    assert!(empty.is_empty());
}

fn manifest_error(text: &str) -> (usize, Option<String>, String, String) {
    match manifest::parse(text, &Registry::builtin()) {
        Err(Error::Manifest { document, kind, path, message, .. }) => {
            (document, kind, path, message)
        }
        other => panic!("expected a manifest error for {text:?}, got {other:?}"),
    }
}

#[test]
fn bad_manifests_name_the_document_and_field() {
    let ok = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n";

    let (doc, kind, path, msg) = manifest_error(&format!(
        "{ok}apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: three\n"
    ));
    assert_eq!((doc, kind.as_deref(), path.as_str()), (1, Some("Deployment"), "spec.replicas"));
    assert!(msg.contains("invalid type"), "{msg}");

    let (doc, _, path, msg) =
        manifest_error(&format!("{ok}apiVersion: v1\nkind: Pod\nmetadata: [oops\n"));
    assert_eq!((doc, path.as_str()), (1, "."));
    assert!(msg.contains("not valid YAML"), "{msg}");

    let (_, kind, path, msg) =
        manifest_error("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n");
    assert_eq!((kind.as_deref(), path.as_str()), (Some("Widget"), "kind"));
    assert!(msg.contains("Widget"), "{msg}");

    let (_, _, path, _) = manifest_error("kind: Pod\nmetadata: {name: p}\n");
    assert_eq!(path, "apiVersion");

    let (_, _, path, _) = manifest_error("apiVersion: v1\nmetadata: {name: p}\n");
    assert_eq!(path, "kind");

    let (_, _, path, _) = manifest_error("- just\n- a list\n");
    assert_eq!(path, ".");

    let (_, _, path, msg) = manifest_error(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: Sometimes\n  containers: []\n",
    );
    assert_eq!(path, "spec.restartPolicy");
    assert!(msg.contains("Sometimes"), "{msg}");

    let (_, _, path, _) = manifest_error(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: 5}\n",
    );
    assert_eq!(path, "items[0].metadata.name");
}

#[tokio::test]
async fn invalid_names_and_labels_from_manifests_are_refused_and_nothing_is_stored() {
    let store = store();
    let api: Api<Deployment> = Api::namespaced(store.clone(), "default");
    let text = DESIGN_DEPLOYMENT
        .replace("name: web\n  labels", "name: Web_Server\n  labels")
        .replacen("app: web\nspec", "app: \"bad value!\"\nspec", 1);
    let docs = manifest::parse(&text, &Registry::builtin()).unwrap();
    let d: Deployment = docs[0].parse().unwrap();
    match api.create(&d).await {
        Err(Error::Invalid { object, field, reason }) => {
            assert_eq!(object, "deployments/default/Web_Server");
            assert_eq!(field, "metadata.name");
            assert!(reason.contains("metadata.labels[\"app\"]"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(store.is_empty());
}
