//! The real kubectl (v1.32 on these machines; Debian's `kubernetes-client`
//! where it is missing, which `scripts/test` installs) against the API
//! server: each command as a user types it, its output asserted.

mod support;

use std::process::Command;

use orch_core::{Api, Deployment, Node};
use support::Server;

/// kubectl pointed at the server by a kubeconfig of its own, with a fresh
/// discovery cache.
struct Kubectl {
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(server: &Server) -> Kubectl {
        Self::with_config(&orch_apiserver::kubeconfig(
            &format!("http://{}", server.addr),
            "default",
        ))
    }

    fn with_config(config: &str) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), config).unwrap();
        Kubectl { dir }
    }

    /// (exit code, stdout, stderr) of `kubectl args…`.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run kubectl ({e}): install Debian's kubernetes-client (scripts/test does)")
            });
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "kubectl {}: {out}{err}", args.join(" "));
        out
    }

    /// `kubectl create -f` of a manifest.
    fn create(&self, manifest: &str) -> String {
        let path = self.manifest(manifest);
        self.ok(&["create", "-f", &path])
    }

    /// The path of a file holding `manifest`.
    fn manifest(&self, manifest: &str) -> String {
        let path = self.dir.path().join("manifest.yaml");
        std::fs::write(&path, manifest).unwrap();
        path.to_string_lossy().into_owned()
    }
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
";

#[test]
fn kubectl_gets_creates_labels_scales_and_deletes() {
    let server = Server::start();
    let kubectl = Kubectl::new(&server);
    let version = kubectl.ok(&["version"]);
    assert!(version.contains("Server Version: v1.32"), "{version}");

    assert_eq!(kubectl.create(POD).trim(), "pod/web created");
    let pods = kubectl.ok(&["get", "pods"]);
    let header: Vec<&str> = pods.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{pods}");
    let row: Vec<&str> = pods.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "0/1", "Pending", "0"], "{pods}");
    let wide = kubectl.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("NODE"), "{wide}");
    assert_eq!(
        kubectl.ok(&["get", "pod", "web", "-o", "jsonpath={.spec.containers[0].image}"]),
        "nginx:1.27"
    );
    assert!(kubectl.ok(&["get", "pods", "-o", "yaml"]).contains("name: web"));
    assert!(kubectl.ok(&["get", "pods", "-l", "app=db"]).is_empty());
    let (code, _, err) = kubectl.run(&["get", "pod", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("Error from server (NotFound): pods \"nope\" not found"), "{err}");

    assert_eq!(kubectl.ok(&["label", "pod", "web", "tier=front"]).trim(), "pod/web labeled");
    assert_eq!(
        kubectl.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels.tier}"]),
        "front"
    );

    // Objects the cluster's own components write show up too.
    server.runtime.block_on(async {
        let nodes: Api<Node> = Api::all(server.store.clone());
        nodes
            .create(&Node {
                metadata: orch_core::ObjectMeta::named("node-1"),
                ..Default::default()
            })
            .await
            .unwrap();
        let deployments: Api<Deployment> = Api::namespaced(server.store.clone(), "default");
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
        }))
        .unwrap();
        deployments.create(&d).await.unwrap();
    });
    let nodes = kubectl.ok(&["get", "nodes"]);
    assert!(nodes.lines().nth(1).is_some_and(|l| l.starts_with("node-1")), "{nodes}");
    let deploy = kubectl.ok(&["get", "deploy"]);
    assert_eq!(
        deploy.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{deploy}"
    );
    assert_eq!(
        kubectl.ok(&["scale", "deployment", "web", "--replicas=3"]).trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(kubectl.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "3");

    // Typed-client commands send protobuf bodies.
    assert_eq!(kubectl.ok(&["create", "namespace", "team-a"]).trim(), "namespace/team-a created");
    assert!(kubectl.ok(&["get", "ns"]).lines().any(|l| l.starts_with("team-a ")));
    assert_eq!(
        kubectl.ok(&["create", "deployment", "web2", "--image=nginx:1.27", "--port=80"]).trim(),
        "deployment.apps/web2 created"
    );
    assert_eq!(
        kubectl.ok(&[
            "get",
            "deploy",
            "web2",
            "-o",
            "jsonpath={.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].ports[0].containerPort}",
        ]),
        "web2 80"
    );
    assert_eq!(
        kubectl.ok(&["create", "configmap", "settings", "--from-literal=mode=fast"]).trim(),
        "configmap/settings created"
    );
    assert_eq!(kubectl.ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"]), "fast");
    assert_eq!(
        kubectl.ok(&["create", "secret", "generic", "creds", "--from-literal=token=s3cret"]).trim(),
        "secret/creds created"
    );
    assert_eq!(kubectl.ok(&["get", "secret", "creds", "-o", "jsonpath={.data.token}"]), "czNjcmV0");
    assert_eq!(kubectl.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");

    assert_eq!(kubectl.ok(&["delete", "pod", "web"]).trim(), "pod \"web\" deleted");
    let (code, out, err) = kubectl.run(&["get", "pods"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("No resources found in default namespace."), "{err}");
}

const APPLIED: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
";

/// `kubectl apply -f` with kubectl's default validation: it reads
/// `/openapi/v3`, leaves validation to the server (`fieldValidation=Strict`),
/// creates what is missing, and on the next apply sends a strategic merge
/// patch computed from the schemas' patch extensions; `--server-side`
/// sends apply patches that create and update; `explain` reads the schemas.
#[test]
fn kubectl_applies_manifests_client_and_server_side() {
    let server = Server::start();
    let kubectl = Kubectl::new(&server);
    let path = kubectl.manifest(APPLIED);
    assert_eq!(
        kubectl.ok(&["apply", "-f", &path]).trim(),
        "configmap/settings created\ndeployment.apps/web created"
    );
    let changed = APPLIED.replace("nginx:1.27", "nginx:1.28").replace("replicas: 2", "replicas: 3");
    let path = kubectl.manifest(&changed);
    let (code, out, err) = kubectl.run(&["apply", "-f", &path]);
    assert_eq!(
        (code, out.trim(), err.as_str()),
        (0, "configmap/settings unchanged\ndeployment.apps/web configured", ""),
        "no warning: the patch came from the server's schemas"
    );
    let template = kubectl.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[*].image} {.spec.template.spec.containers[0].ports[0].containerPort}",
    ]);
    assert_eq!(template, "3 nginx:1.28 80");

    // A server-side dry run and a diff change nothing.
    let later = changed.replace("nginx:1.28", "nginx:1.29");
    let path = kubectl.manifest(&later);
    assert_eq!(
        kubectl.ok(&["apply", "--dry-run=server", "-f", &path]).trim(),
        "configmap/settings unchanged (server dry run)\ndeployment.apps/web configured (server dry run)"
    );
    let (code, diff, err) = kubectl.run(&["diff", "-f", &path]);
    assert_eq!(code, 1, "kubectl diff exits 1 when there are differences: {err}");
    let changed_line =
        |sign: char, text: &str| diff.lines().any(|l| l.starts_with(sign) && l.contains(text));
    assert!(changed_line('-', "image: nginx:1.28"), "{diff}");
    assert!(changed_line('+', "image: nginx:1.29"), "{diff}");
    let image = "jsonpath={.spec.template.spec.containers[0].image}";
    assert_eq!(kubectl.ok(&["get", "deploy", "web", "-o", image]), "nginx:1.28");

    // A field orch does not model: refused under kubectl's default
    // (Strict), written without it under --validate=warn.
    let unmodelled = changed
        .replace("        ports:", "        securityContext: {runAsUser: 1000}\n        ports:");
    let path = kubectl.manifest(&unmodelled);
    let (code, _, err) = kubectl.run(&["apply", "-f", &path]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("strict decoding error: unknown field"), "{err}");
    assert!(err.contains("securityContext"), "{err}");
    let (code, out, err) = kubectl.run(&["apply", "--validate=warn", "-f", &path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("Warning: unknown field"), "{err}");

    // Server-side apply: created when missing, then updated.
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: \"1\"\n";
    let path = kubectl.manifest(ssa);
    assert_eq!(
        kubectl.ok(&["apply", "--server-side", "-f", &path]).trim(),
        "configmap/ssa serverside-applied"
    );
    let path = kubectl.manifest(&ssa.replace("\"1\"", "\"2\""));
    assert_eq!(
        kubectl.ok(&["apply", "--server-side", "-f", &path]).trim(),
        "configmap/ssa serverside-applied"
    );
    assert_eq!(kubectl.ok(&["get", "configmap", "ssa", "-o", "jsonpath={.data.a}"]), "2");
    // Another manager changing kubectl's field conflicts, unless forced.
    let path = kubectl.manifest(&ssa.replace("\"1\"", "\"3\""));
    let other = ["apply", "--server-side", "--field-manager=other", "-f", &path];
    let (code, _, err) = kubectl.run(&other);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\" using v1: .data.a"),
        "{err}"
    );
    let forced = [&other[..2], &["--force-conflicts"], &other[2..]].concat();
    assert_eq!(kubectl.ok(&forced).trim(), "configmap/ssa serverside-applied");
    let yaml = kubectl.ok(&["get", "configmap", "ssa", "-o", "yaml", "--show-managed-fields"]);
    assert!(yaml.contains("manager: other") && yaml.contains("operation: Apply"), "{yaml}");
    assert_eq!(kubectl.ok(&["get", "configmap", "ssa", "-o", "jsonpath={.data.a}"]), "3");

    let explained = kubectl.ok(&["explain", "deployment.spec.replicas"]);
    assert!(explained.contains("Desired number of Pods"), "{explained}");
}

/// Over HTTPS, kubectl authenticates with the admin client certificate of
/// the kubeconfig the PKI writes, or with a bearer token; with a wrong
/// token it is told it is Unauthorized.
#[test]
fn kubectl_over_tls_authenticates_with_certificates_and_tokens() {
    let pki = orch_apiserver::pki::Pki::generate(&[]).unwrap();
    let admin = pki.client("admin", &["system:masters"]).unwrap();
    let tls = orch_apiserver::tls::TlsSettings {
        server: pki.server.clone(),
        client_ca_pem: Some(pki.ca_pem.clone()),
    };
    let authenticator = orch_apiserver::Authenticator::new()
        .token_file("s3cr3t,dev,1001,\"developers\"\n")
        .unwrap();
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_path = audit_dir.path().join("audit.log");
    let audit = orch_apiserver::AuditLog::open(&audit_path).unwrap();
    let server = Server::start_tls(tls, move |s| s.authenticator(authenticator).audit_log(audit));
    let url = format!("https://{}", server.addr);
    let kubectl = Kubectl::with_config(&pki.kubeconfig(&url, &admin, "default"));
    assert_eq!(kubectl.create(POD).trim(), "pod/web created");
    assert!(kubectl.ok(&["get", "pods"]).contains("web"));

    // A token user; a wrong token is refused. (Without any credentials
    // over HTTPS kubectl prompts for a username before it sends a
    // request; the 401 for that case is in the authn unit tests.)
    let token = |t: &str| pki.kubeconfig_with_token(&url, t, "default");
    assert!(Kubectl::with_config(&token("s3cr3t")).ok(&["get", "pods"]).contains("web"));
    let (code, _, err) = Kubectl::with_config(&token("wrong")).run(&["get", "pods"]);
    assert_eq!(code, 1);
    assert!(err.contains("You must be logged in to the server"), "{err}");

    // The audit log has a Metadata-level event per request: who, what, the code.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |verb: &str, user: &str, code: u16| {
        events.iter().any(|e| {
            e["verb"] == verb
                && e["user"]["username"].as_str().unwrap_or("") == user
                && e["responseStatus"]["code"] == code
                && e["objectRef"]["resource"] == "pods"
        })
    };
    assert!(find("create", "admin", 201), "{events:#?}");
    assert!(find("list", "dev", 200), "{events:#?}");
    // The refused token's requests (discovery: kubectl stops there).
    assert!(
        events
            .iter()
            .any(|e| e["responseStatus"]["code"] == 401 && e["user"] == serde_json::json!({})),
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e["level"] == "Metadata" && e["sourceIPs"][0] == "127.0.0.1"));
}

/// RBAC: a token user whose Role allows only `get` and `list` of pods in
/// one namespace is refused with kube-apiserver's 403 elsewhere, and
/// `kubectl auth can-i` answers as the roles say; the admin (system:masters)
/// may do everything.
#[test]
fn rbac_limits_a_user_to_what_its_role_binding_grants() {
    let pki = orch_apiserver::pki::Pki::generate(&[]).unwrap();
    let admin_cert = pki.client("admin", &["system:masters"]).unwrap();
    let tls = orch_apiserver::tls::TlsSettings {
        server: pki.server.clone(),
        client_ca_pem: Some(pki.ca_pem.clone()),
    };
    let authenticator =
        orch_apiserver::Authenticator::new().token_file("d3v,dev,1001,\"developers\"\n").unwrap();
    let server = Server::start_tls(tls, move |s| s.authenticator(authenticator).rbac());
    let url = format!("https://{}", server.addr);
    let admin = Kubectl::with_config(&pki.kubeconfig(&url, &admin_cert, "team"));
    // Typed-client commands: protobuf Role and RoleBinding bodies.
    assert_eq!(
        admin.ok(&["create", "role", "pod-reader", "--verb=get,list", "--resource=pods"]).trim(),
        "role.rbac.authorization.k8s.io/pod-reader created"
    );
    assert_eq!(
        admin
            .ok(&[
                "create",
                "rolebinding",
                "developers-read-pods",
                "--role=pod-reader",
                "--group=developers"
            ])
            .trim(),
        "rolebinding.rbac.authorization.k8s.io/developers-read-pods created"
    );
    assert_eq!(admin.create(POD).trim(), "pod/web created");

    let dev = Kubectl::with_config(&pki.kubeconfig_with_token(&url, "d3v", "team"));
    assert!(dev.ok(&["get", "pods"]).contains("web"));
    assert_eq!(dev.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.name}"]), "web");
    let path = dev.dir.path().join("pod.yaml");
    std::fs::write(&path, POD.replace("name: web", "name: web2")).unwrap();
    let (code, _, err) = dev.run(&["create", "--validate=false", "-f", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("pods is forbidden: User \"dev\" cannot create resource \"pods\" in API group \"\" in the namespace \"team\""),
        "{err}"
    );
    let (code, _, err) = dev.run(&["get", "pods", "-n", "other"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot list resource \"pods\" in API group \"\" in the namespace \"other\""),
        "{err}"
    );
    let (code, _, err) = dev.run(&["delete", "pod", "web"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Forbidden"), "{err}");

    assert_eq!(dev.ok(&["auth", "can-i", "list", "pods"]).trim(), "yes");
    let (code, out, _) = dev.run(&["auth", "can-i", "create", "pods"]);
    assert_eq!((code, out.trim()), (1, "no"));
    let (code, out, _) = dev.run(&["auth", "can-i", "get", "pods", "-n", "other"]);
    assert_eq!((code, out.trim()), (1, "no"));
    assert_eq!(admin.ok(&["auth", "can-i", "delete", "nodes"]).trim(), "yes");
    assert_eq!(admin.ok(&["delete", "pod", "web"]).trim(), "pod \"web\" deleted");
}

/// The bootstrap roles and the node restriction: a node agent's
/// certificate (`system:node:node-1` in `system:nodes`) may read pods and
/// write its own Node, but not another node's, and not a Deployment.
#[test]
fn a_node_credential_writes_only_its_own_objects() {
    let pki = orch_apiserver::pki::Pki::generate(&[]).unwrap();
    let admin_cert = pki.client("admin", &["system:masters"]).unwrap();
    let node_cert = pki.client("system:node:node-1", &["system:nodes"]).unwrap();
    let tls = orch_apiserver::tls::TlsSettings {
        server: pki.server.clone(),
        client_ca_pem: Some(pki.ca_pem.clone()),
    };
    let server =
        Server::start_tls(tls, |s| s.authenticator(orch_apiserver::Authenticator::new()).rbac());
    server.runtime.block_on(async {
        let nodes: Api<Node> = Api::all(server.store.clone());
        for n in ["node-1", "node-2"] {
            nodes
                .create(&Node { metadata: orch_core::ObjectMeta::named(n), ..Default::default() })
                .await
                .unwrap();
        }
    });
    let url = format!("https://{}", server.addr);
    let admin = Kubectl::with_config(&pki.kubeconfig(&url, &admin_cert, "default"));
    assert!(admin.ok(&["get", "clusterroles"]).contains("system:node"), "bootstrap roles exist");
    let node = Kubectl::with_config(&pki.kubeconfig(&url, &node_cert, "default"));
    assert!(node.ok(&["get", "nodes"]).contains("node-2"), "a node reads every Node");
    assert_eq!(node.ok(&["label", "node", "node-1", "disk=ssd"]).trim(), "node/node-1 labeled");
    let (code, _, err) = node.run(&["label", "node", "node-2", "disk=ssd"]);
    assert_eq!(code, 1);
    assert!(err.contains("node \"node-1\" is not allowed to modify node \"node-2\""), "{err}");
    let (code, _, err) = node.run(&["delete", "deployment", "web"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("User \"system:node:node-1\" cannot delete resource \"deployments\""),
        "{err}"
    );
}
