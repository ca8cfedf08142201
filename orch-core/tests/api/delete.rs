//! Deletes: finalizers, preconditions, propagation policies and grace
//! periods.

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

/// A Pod bound to `node` with a grace period of `grace` seconds.
fn bound(name: &str, grace: i64) -> Pod {
    let mut p = pod(name);
    p.spec.node_name = Some("node-1".into());
    p.spec.termination_grace_period_seconds = Some(grace);
    p
}

fn grace_of(outcome: DeleteOutcome<Pod>) -> Option<i64> {
    match outcome {
        DeleteOutcome::Finalizing(p) => p.metadata.deletion_grace_period_seconds,
        DeleteOutcome::Deleted(p) => panic!("{} deleted at once", p.metadata.name),
    }
}

#[tokio::test]
async fn a_bound_pods_grace_period_holds_whatever_its_finalizers_or_propagation() {
    let (_, api) = setup();
    // Finalizers of its own.
    let mut p = bound("web-0", 7);
    p.metadata.finalizers = vec!["example.com/cleanup".into()];
    api.create(&p).await.unwrap();
    assert_eq!(grace_of(api.delete("web-0", &DeleteParams::default()).await.unwrap()), Some(7));
    // The garbage collector's foreground cascade, and orphaning.
    api.create(&bound("web-1", 7)).await.unwrap();
    assert_eq!(grace_of(api.delete("web-1", &DeleteParams::foreground()).await.unwrap()), Some(7));
    api.create(&bound("web-2", 7)).await.unwrap();
    assert_eq!(grace_of(api.delete("web-2", &DeleteParams::orphan()).await.unwrap()), Some(7));
    // The request's grace period wins over the Pod's.
    api.create(&bound("web-3", 7)).await.unwrap();
    let three = DeleteParams { grace_period_seconds: Some(3), ..DeleteParams::foreground() };
    assert_eq!(grace_of(api.delete("web-3", &three).await.unwrap()), Some(3));
    // An object without graceful deletion waits only for its finalizers.
    let mut pending = pod("pending");
    pending.metadata.finalizers = vec!["example.com/cleanup".into()];
    api.create(&pending).await.unwrap();
    assert_eq!(grace_of(api.delete("pending", &DeleteParams::default()).await.unwrap()), Some(0));
}

#[tokio::test]
async fn deleting_again_with_a_shorter_grace_period_shortens_it() {
    let (_, api) = setup();
    let with = |g: i64| DeleteParams { grace_period_seconds: Some(g), ..Default::default() };
    api.create(&bound("web-0", 30)).await.unwrap();
    assert_eq!(grace_of(api.delete("web-0", &DeleteParams::default()).await.unwrap()), Some(30));
    assert_eq!(grace_of(api.delete("web-0", &with(10)).await.unwrap()), Some(10));
    // A longer one does not lengthen it.
    assert_eq!(grace_of(api.delete("web-0", &with(20)).await.unwrap()), Some(10));
    assert_eq!(api.get("web-0").await.unwrap().metadata.deletion_grace_period_seconds, Some(10));
    // 0 without finalizers: gone at once.
    assert!(api.delete("web-0", &with(0)).await.unwrap().is_deleted());
    assert!(api.get_opt("web-0").await.unwrap().is_none());

    // 0 with finalizers: recorded, the object waits for its finalizers.
    let mut p = bound("web-1", 30);
    p.metadata.finalizers = vec!["example.com/cleanup".into()];
    api.create(&p).await.unwrap();
    assert_eq!(grace_of(api.delete("web-1", &DeleteParams::default()).await.unwrap()), Some(30));
    assert_eq!(grace_of(api.delete("web-1", &with(0)).await.unwrap()), Some(0));
}
