//! Deletes: finalizers, preconditions and propagation policies.

use super::*;

#[tokio::test]
async fn delete_honours_finalizers() {
    let (_, api) = setup();
    let mut p = pod("web-0");
    p.metadata.finalizers = vec!["example.com/cleanup".into()];
    api.create(&p).await.unwrap();

    let pending = match api.delete("web-0", &DeleteParams::default()).await.unwrap() {
        DeleteOutcome::Finalizing(p) => p,
        other => panic!("{other:?}"),
    };
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(pending.metadata.deletion_grace_period_seconds, Some(0));
    assert!(api.get("web-0").await.unwrap().metadata.is_deleting());
    // Deleting again changes nothing.
    assert!(!api.delete("web-0", &DeleteParams::default()).await.unwrap().is_deleted());

    // Removing the last finalizer removes the object.
    let mut done = api.get("web-0").await.unwrap();
    done.metadata.finalizers.clear();
    api.replace(&done).await.unwrap();
    assert!(api.get_opt("web-0").await.unwrap().is_none());

    // Without finalizers, delete removes at once and returns the last state.
    let created = api.create(&pod("web-1")).await.unwrap();
    match api.delete("web-1", &DeleteParams::default()).await.unwrap() {
        DeleteOutcome::Deleted(last) => {
            assert_eq!(last.metadata.uid, created.metadata.uid);
            assert!(
                last.metadata.resource_version.parse::<i64>().unwrap()
                    > created.metadata.resource_version.parse::<i64>().unwrap()
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(api.delete("web-1", &DeleteParams::default()).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn delete_preconditions_and_propagation_policies() {
    let (_, api) = setup();
    let created = api.create(&pod("web-0")).await.unwrap();
    let wrong_uid = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("other".into()), resource_version: None }),
        ..Default::default()
    };
    assert!(api.delete("web-0", &wrong_uid).await.unwrap_err().is_conflict());
    let stale_rv = DeleteParams {
        preconditions: Some(Preconditions { uid: None, resource_version: Some("1".into()) }),
        ..Default::default()
    };
    assert!(api.delete("web-0", &stale_rv).await.unwrap_err().is_conflict());
    assert!(api.get_opt("web-0").await.unwrap().is_some());

    let orphaned = api.delete("web-0", &DeleteParams::orphan()).await.unwrap();
    assert_eq!(orphaned.into_object().metadata.finalizers, ["orphan"]);
    api.create(&pod("web-1")).await.unwrap();
    let foreground = api.delete("web-1", &DeleteParams::foreground()).await.unwrap();
    assert_eq!(foreground.into_object().metadata.finalizers, ["foregroundDeletion"]);
    let exact = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(created.metadata.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    assert!(!api.delete("web-0", &exact).await.unwrap().is_deleted(), "still finalizing");
}
