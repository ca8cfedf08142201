//! The REST semantics of kube-apiserver, over HTTP with a plain client:
//! what each verb answers, and that bad input gets the right Status while
//! nothing stored changes.

mod support;

use serde_json::json;
use support::{client, json, Server};

fn pod(name: &str, app: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

fn post(s: &Server, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    json(
        client()
            .post(&s.url(path))
            .header("Content-Type", "application/json")
            .send(body.to_string()),
    )
}

#[test]
fn create_get_list_update_patch_and_delete_as_kube_apiserver() {
    let s = Server::start();
    let pods = "/api/v1/namespaces/default/pods";
    let (code, created) = post(&s, pods, &pod("web-1", "web"));
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["kind"], "Pod");
    assert_eq!(created["metadata"]["namespace"], "default");
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    assert_eq!(post(&s, pods, &pod("db-1", "db")).0, 201);

    let (code, again) = post(&s, pods, &pod("web-1", "web"));
    assert_eq!((code, again["reason"].as_str()), (409, Some("AlreadyExists")), "{again}");
    assert_eq!(again["message"], "pods \"web-1\" already exists");

    let (code, got) = json(client().get(&s.url(&format!("{pods}/web-1"))).call());
    assert_eq!((code, got["metadata"]["name"].as_str()), (200, Some("web-1")));
    let (code, missing) = json(client().get(&s.url(&format!("{pods}/nope"))).call());
    assert_eq!((code, missing["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(missing["message"], "pods \"nope\" not found");

    let (code, list) =
        json(client().get(&s.url(&format!("{pods}?labelSelector=app%3Dweb"))).call());
    assert_eq!((code, list["kind"].as_str()), (200, Some("PodList")));
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["web-1"]);
    let (_, by_name) =
        json(client().get(&s.url(&format!("{pods}?fieldSelector=metadata.name%3Ddb-1"))).call());
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);
    let (_, all) = json(client().get(&s.url("/api/v1/pods")).call());
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    // PUT with the resourceVersion read: 200; with a stale one: 409 Conflict.
    let mut update = got.clone();
    update["metadata"]["labels"]["tier"] = json!("front");
    let put = |body: &serde_json::Value| {
        json(
            client()
                .put(&s.url(&format!("{pods}/web-1")))
                .header("Content-Type", "application/json")
                .send(body.to_string()),
        )
    };
    let (code, updated) = put(&update);
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["metadata"]["labels"]["tier"], "front");
    update["metadata"]["resourceVersion"] = json!(rv);
    let (code, conflict) = put(&update);
    assert_eq!((code, conflict["reason"].as_str()), (409, Some("Conflict")), "{conflict}");

    // Merge patch and JSON patch.
    let patch = |content_type: &str, body: serde_json::Value| {
        json(
            client()
                .patch(&s.url(&format!("{pods}/web-1")))
                .header("Content-Type", content_type)
                .send(body.to_string()),
        )
    };
    let (code, merged) =
        patch("application/merge-patch+json", json!({"metadata": {"labels": {"tier": "edge"}}}));
    assert_eq!((code, merged["metadata"]["labels"]["tier"].as_str()), (200, Some("edge")));
    let (code, patched) = patch(
        "application/json-patch+json",
        json!([{"op": "replace", "path": "/metadata/labels/app", "value": "web2"}]),
    );
    assert_eq!((code, patched["metadata"]["labels"]["app"].as_str()), (200, Some("web2")));
    // What client-side `kubectl apply` sends for a new image: the list
    // merges by container name, the other fields stay.
    let (code, smp) = patch(
        "application/strategic-merge-patch+json",
        json!({"spec": {"$setElementOrder/containers": [{"name": "c"}],
                        "containers": [{"name": "c", "image": "busybox:1.36"}]}}),
    );
    assert_eq!(code, 200, "{smp}");
    assert_eq!(smp["spec"]["containers"], json!([{"name": "c", "image": "busybox:1.36"}]));
    assert_eq!(smp["metadata"]["labels"]["tier"], "edge");
    let (code, bad) = patch(
        "application/strategic-merge-patch+json",
        json!({"spec": {"containers": [{"image": "no-name"}]}}),
    );
    assert_eq!((code, bad["reason"].as_str()), (400, Some("BadRequest")), "{bad}");
    assert!(bad["message"].as_str().unwrap().contains("merge key"), "{bad}");
    let (code, cbor) = patch("application/apply-patch+cbor", json!({}));
    assert_eq!((code, cbor["reason"].as_str()), (415, Some("UnsupportedMediaType")));

    // DELETE with DeleteOptions; then the pod is gone (unbound: at once).
    let (code, deleted) = json(
        client()
            .delete(&s.url(&format!("{pods}/db-1")))
            .header("Content-Type", "application/json")
            .force_send_body()
            .send(json!({"propagationPolicy": "Background"}).to_string()),
    );
    assert_eq!((code, deleted["metadata"]["name"].as_str()), (200, Some("db-1")), "{deleted}");
    assert_eq!(json(client().get(&s.url(&format!("{pods}/db-1"))).call()).0, 404);
}

#[test]
fn bad_requests_get_their_status_and_change_nothing() {
    let s = Server::start();
    let pods = "/api/v1/namespaces/default/pods";
    let send = |body: Vec<u8>, content_type: &str| {
        json(client().post(&s.url(pods)).header("Content-Type", content_type).send(body))
    };
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        ("malformed JSON", b"{\"metadata\": ".to_vec(), "application/json", 400, "BadRequest"),
        ("a protobuf body", b"k8s\0".to_vec(), "application/vnd.kubernetes.protobuf", 415, "UnsupportedMediaType"),
        ("4 MiB", vec![b' '; 4 << 20], "application/json", 413, "RequestEntityTooLarge"),
        ("an invalid name", pod("Bad_Name", "x").to_string().into_bytes(), "application/json", 422, "Invalid"),
        (
            "another namespace",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "kube-system"},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}).to_string().into_bytes(),
            "application/json",
            400,
            "BadRequest",
        ),
        ("no containers", json!({"metadata": {"name": "p"}, "spec": {}}).to_string().into_bytes(), "application/json", 422, "Invalid"),
    ];
    for (what, body, content_type, code, reason) in cases {
        let (got, status) = send(body, content_type);
        assert_eq!((got, status["reason"].as_str()), (code, Some(reason)), "{what}: {status}");
        assert_eq!(status["kind"], "Status", "{what}");
    }
    let (_, list) = json(client().get(&s.url("/api/v1/pods")).call());
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing stored: {list}");
    let (code, _) = json(client().get(&s.url("/api/v1/namespaces/default/widgets")).call());
    assert_eq!(code, 404);
    let (code, stale) =
        json(client().get(&s.url(&format!("{pods}?watch=true&resourceVersion=abc"))).call());
    assert_eq!(code, 422, "{stale}");
}

#[test]
fn a_watch_streams_the_changes_after_a_lists_resource_version() {
    use std::io::BufRead;
    let s = Server::start();
    let pods = "/api/v1/namespaces/default/pods";
    assert_eq!(post(&s, pods, &pod("before", "web")).0, 201);
    let (_, list) = json(client().get(&s.url(pods)).call());
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    let mut response = client()
        .get(&s.url(&format!("{pods}?watch=true&resourceVersion={rv}&timeoutSeconds=30")))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(post(&s, pods, &pod("after", "web")).0, 201);
    let mut lines = std::io::BufReader::new(response.body_mut().as_reader()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "after", "only changes after the list");
    // From resourceVersion 0: every object first, as kube-apiserver.
    let mut from_zero = client()
        .get(&s.url(&format!("{pods}?watch=true&resourceVersion=0&timeoutSeconds=30")))
        .call()
        .unwrap();
    let mut lines = std::io::BufReader::new(from_zero.body_mut().as_reader()).lines();
    let mut names: Vec<String> = (0..2)
        .map(|_| {
            let e: serde_json::Value =
                serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            assert_eq!(e["type"], "ADDED");
            e["object"]["metadata"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["after", "before"]);
}

/// The embedder's admission chain runs on every write through the server:
/// a mutating hook's change is stored, a validating hook's refusal is a
/// 403 with its reason, and nothing of the refused write is stored.
#[test]
fn admission_hooks_run_on_writes_through_the_server() {
    use orch_core::admission::{AdmissionChain, AdmissionRequest, MutatingHook, ValidatingHook};
    struct Team;
    #[async_trait::async_trait]
    impl MutatingHook for Team {
        fn name(&self) -> &str {
            "team"
        }
        async fn mutate(
            &self,
            _: &AdmissionRequest<'_>,
            o: &mut serde_json::Value,
        ) -> Result<(), String> {
            o["metadata"]["labels"]["team"] = json!("platform");
            Ok(())
        }
    }
    struct NoLatest;
    #[async_trait::async_trait]
    impl ValidatingHook for NoLatest {
        fn name(&self) -> &str {
            "no-latest"
        }
        async fn validate(
            &self,
            _: &AdmissionRequest<'_>,
            o: Option<&serde_json::Value>,
        ) -> Result<(), String> {
            match o.and_then(|o| o.pointer("/spec/containers/0/image")).and_then(|i| i.as_str()) {
                Some(i) if i.ends_with(":latest") => Err(format!("image {i} uses the latest tag")),
                _ => Ok(()),
            }
        }
    }
    let s = Server::start_configured(|server| {
        server.admission(AdmissionChain::new().mutating(Team).validating(NoLatest))
    });
    let pods = "/api/v1/namespaces/default/pods";
    let (code, created) = post(&s, pods, &pod("ok", "web"));
    assert_eq!((code, created["metadata"]["labels"]["team"].as_str()), (201, Some("platform")));
    let mut latest = pod("latest", "web");
    latest["spec"]["containers"][0]["image"] = json!("busybox:latest");
    let (code, refused) = post(&s, pods, &latest);
    assert_eq!((code, refused["reason"].as_str()), (403, Some("Forbidden")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("uses the latest tag"), "{refused}");
    assert_eq!(json(client().get(&s.url(&format!("{pods}/latest"))).call()).0, 404);
}

/// Fields a kind does not model come back as `Warning` headers (299) by
/// default, are refused under `fieldValidation=Strict` (what kubectl sends)
/// with nothing stored, and are dropped silently under `Ignore`.
#[test]
fn unmodelled_fields_warn_or_are_refused_under_strict() {
    let s = Server::start();
    let mut body = pod("extra", "web");
    body["spec"]["securityContext"] = json!({"runAsUser": 1000});
    let (code, refused) = post(&s, "/api/v1/namespaces/default/pods?fieldValidation=Strict", &body);
    assert_eq!((code, refused["reason"].as_str()), (400, Some("BadRequest")), "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("strict decoding error: unknown field \"spec.securityContext\""),
        "{message}"
    );
    assert_eq!(json(client().get(&s.url("/api/v1/namespaces/default/pods/extra")).call()).0, 404);
    let (code, _) = post(&s, "/api/v1/namespaces/default/pods?fieldValidation=Loose", &body);
    assert_eq!(code, 400);
    let response = client()
        .post(&s.url("/api/v1/namespaces/default/pods?fieldValidation=Warn"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let warnings: Vec<&str> =
        response.headers().get_all("warning").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(
        warnings,
        ["299 - \"unknown field \\\"spec.securityContext\\\" (not modelled by orch; dropped)\""]
    );
    body["metadata"]["name"] = json!("quiet");
    let response = client()
        .post(&s.url("/api/v1/namespaces/default/pods?fieldValidation=Ignore"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert!(response.headers().get("warning").is_none());
}

/// `pods/binding` puts a pod on a node once (a second binding is a 409);
/// `pods/eviction` deletes it gracefully; both answer a 201 Success.
#[test]
fn binding_and_eviction_subresources() {
    let s = Server::start();
    let pods = "/api/v1/namespaces/default/pods";
    let (code, created) = post(&s, pods, &pod("p", "web"));
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().unwrap().to_owned();
    let binding = |node: &str, kind: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "uid": uid},
               "target": {"apiVersion": "v1", "kind": kind, "name": node}})
    };
    let (code, bad) = post(&s, &format!("{pods}/p/binding"), &binding("n1", "Pod"));
    assert_eq!((code, bad["reason"].as_str()), (400, Some("BadRequest")), "{bad}");
    let (code, ok) = post(&s, &format!("{pods}/p/binding"), &binding("n1", "Node"));
    assert_eq!((code, ok["status"].as_str()), (201, Some("Success")), "{ok}");
    let (_, bound) = json(client().get(&s.url(&format!("{pods}/p"))).call());
    assert_eq!(bound["spec"]["nodeName"], "n1");
    let (code, again) = post(&s, &format!("{pods}/p/binding"), &binding("n2", "Node"));
    assert_eq!((code, again["reason"].as_str()), (409, Some("Conflict")), "{again}");

    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": "p", "namespace": "default"},
                          "deleteOptions": {"gracePeriodSeconds": 5}});
    let (code, evicted) = post(&s, &format!("{pods}/p/eviction"), &eviction);
    assert_eq!((code, evicted["status"].as_str()), (201, Some("Success")), "{evicted}");
    let (_, terminating) = json(client().get(&s.url(&format!("{pods}/p"))).call());
    assert!(terminating["metadata"]["deletionTimestamp"].is_string(), "{terminating}");
    assert_eq!(terminating["metadata"]["deletionGracePeriodSeconds"], 5);
    let (code, missing) = post(&s, &format!("{pods}/gone/eviction"), &eviction);
    assert_eq!(code, 400, "the name differs from the URL's: {missing}");
    let mut other = eviction.clone();
    other["metadata"]["name"] = json!("gone");
    let (code, _) = post(&s, &format!("{pods}/gone/eviction"), &other);
    assert_eq!(code, 404);
}

/// `dryRun=All` validates and answers what a write would store, and stores
/// nothing; another value is a 400.
#[test]
fn dry_run_writes_store_nothing() {
    let s = Server::start();
    let pods = "/api/v1/namespaces/default/pods";
    let (code, would) = post(&s, &format!("{pods}?dryRun=All"), &pod("dry", "web"));
    assert_eq!(code, 201, "{would}");
    assert!(!would["metadata"]["uid"].as_str().unwrap_or("").is_empty(), "{would}");
    assert_eq!(json(client().get(&s.url(&format!("{pods}/dry"))).call()).0, 404);
    let (code, invalid) = post(&s, &format!("{pods}?dryRun=All"), &pod("Not_A_Name", "web"));
    assert_eq!((code, invalid["reason"].as_str()), (422, Some("Invalid")), "still validated");
    assert_eq!(post(&s, &format!("{pods}?dryRun=Some"), &pod("dry", "web")).0, 400);

    assert_eq!(post(&s, pods, &pod("real", "web")).0, 201);
    let (code, patched) = json(
        client()
            .patch(&s.url(&format!("{pods}/real?dryRun=All")))
            .header("Content-Type", "application/merge-patch+json")
            .send(json!({"metadata": {"labels": {"app": "db"}}}).to_string()),
    );
    assert_eq!((code, patched["metadata"]["labels"]["app"].as_str()), (200, Some("db")));
    let (_, stored) = json(client().get(&s.url(&format!("{pods}/real"))).call());
    assert_eq!(stored["metadata"]["labels"]["app"], "web");
    let (code, _) = json(
        client()
            .delete(&s.url(&format!("{pods}/real")))
            .header("Content-Type", "application/json")
            .force_send_body()
            .send(json!({"dryRun": ["All"]}).to_string()),
    );
    assert_eq!(code, 200);
    assert_eq!(json(client().get(&s.url(&format!("{pods}/real"))).call()).0, 200, "still there");
}
