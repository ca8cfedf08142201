//! Admission: mutating hooks, then the built-in validation, then
//! validating hooks, on create, update and delete.

use super::*;

struct AddTeamLabel;

#[async_trait]
impl MutatingHook for AddTeamLabel {
    fn name(&self) -> &str {
        "add-team-label"
    }
    async fn mutate(
        &self,
        _req: &AdmissionRequest<'_>,
        object: &mut serde_json::Value,
    ) -> Result<(), String> {
        let meta =
            object.pointer_mut("/metadata").and_then(|m| m.as_object_mut()).ok_or("no metadata")?;
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        labels.as_object_mut().ok_or("labels")?.insert("team".into(), json!("platform"));
        Ok(())
    }
}

struct DenyLatestAndProtected {
    seen: Arc<AtomicUsize>,
}

#[async_trait]
impl ValidatingHook for DenyLatestAndProtected {
    fn name(&self) -> &str {
        "deny-latest"
    }
    async fn validate(
        &self,
        req: &AdmissionRequest<'_>,
        object: Option<&serde_json::Value>,
    ) -> Result<(), String> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        if req.operation == Operation::Delete {
            let protected =
                req.old_object.and_then(|o| o.pointer("/metadata/labels/protected")).is_some();
            return if protected {
                Err("protected objects cannot be deleted".into())
            } else {
                Ok(())
            };
        }
        let image = object
            .and_then(|o| o.pointer("/spec/containers/0/image"))
            .and_then(|i| i.as_str())
            .unwrap_or("");
        if image.ends_with(":latest") {
            return Err(format!("image {image} uses the latest tag"));
        }
        // Mutating hooks ran before validating ones.
        match object.and_then(|o| o.pointer("/metadata/labels/team")) {
            Some(_) => Ok(()),
            None => Err("mutating hooks did not run first".into()),
        }
    }
}

#[tokio::test]
async fn admission_hooks_mutate_then_validate_on_create_update_and_delete() {
    let store = Arc::new(MemStore::new());
    let seen = Arc::new(AtomicUsize::new(0));
    let chain = AdmissionChain::new()
        .mutating(AddTeamLabel)
        .validating(DenyLatestAndProtected { seen: seen.clone() });
    let api: Api<Pod> = Api::namespaced(store.clone(), "default").with_admission(chain);

    let created = api.create(&pod("web-0")).await.unwrap();
    assert_eq!(created.metadata.labels["team"], "platform");
    assert_eq!(api.get("web-0").await.unwrap().metadata.labels["team"], "platform");

    let mut latest = pod("web-1");
    latest.spec.containers[0].image = "myapp:latest".into();
    match api.create(&latest).await {
        Err(Error::AdmissionDenied { hook, operation, object, reason }) => {
            assert_eq!(
                (hook.as_str(), operation.as_str(), object.as_str()),
                ("deny-latest", "CREATE", "pods/default/web-1")
            );
            assert!(reason.contains("latest"));
        }
        other => panic!("{other:?}"),
    }
    assert!(api.get_opt("web-1").await.unwrap().is_none());

    let mut update = created.clone();
    update.spec.containers[0].image = "myapp:latest".into();
    assert!(
        matches!(api.replace(&update).await, Err(Error::AdmissionDenied { ref operation, .. }) if operation == "UPDATE")
    );

    api.patch("web-0", &json!({"metadata": {"labels": {"protected": "yes"}}})).await.unwrap();
    assert!(
        matches!(api.delete("web-0", &DeleteParams::default()).await, Err(Error::AdmissionDenied { ref operation, .. }) if operation == "DELETE")
    );
    assert!(api.get_opt("web-0").await.unwrap().is_some());
    assert!(seen.load(Ordering::SeqCst) >= 5);
}
