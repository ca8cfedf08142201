//! `--demo`: on the first Deployment, self-healing (a replica's process
//! killed and restarted), a rolling update to the next version that never
//! drops below `replicas − maxUnavailable` ready pods, and a rollback; each
//! step checks what it shows and fails the run if it does not hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_controllers::deployment::{rollback, rolling_bounds};
use orch_core::selector::LabelSelector;
use orch_core::store::Store;
use orch_core::{Api, Deployment, Pod};

use crate::display::{address, http_get, is_ready, Display};
use crate::readiness::{all_pods, Workloads};
use crate::wiring::Cluster;

/// The next version of an image: `myapp:1.2.3` → `myapp:1.3.0`, otherwise
/// the tag with `-next`.
fn bump(image: &str) -> String {
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let parts: Vec<&str> = tag.split('.').collect();
    match (parts.len(), parts.get(1).and_then(|m| m.parse::<u32>().ok())) {
        (3, Some(minor)) => format!("{name}:{}.{}.0", parts[0], minor + 1),
        _ => format!("{name}:{tag}-next"),
    }
}

fn version(image: &str) -> &str {
    image.rsplit_once(':').map_or("latest", |(_, t)| t)
}

/// The Deployment the demo drives.
struct Target {
    store: Arc<dyn Store>,
    namespace: String,
    name: String,
    replicas: i32,
    max_unavailable: i32,
    selector: LabelSelector,
}

impl Target {
    /// The Deployment's live pods (not marked for deletion).
    async fn pods(&self) -> Vec<Pod> {
        all_pods(&self.store)
            .await
            .into_iter()
            .filter(|p| {
                p.metadata.namespace == self.namespace
                    && self.selector.matches(&p.metadata.labels)
                    && !p.metadata.is_deleting()
            })
            .collect()
    }

    /// Kills a ready replica's process and waits for its container to be
    /// restarted and Ready again.
    async fn heal(&self, cluster: &Cluster, display: &mut Display) -> Result<(), String> {
        let victim = self.pods().await.into_iter().find(is_ready).ok_or("no ready pod to kill")?;
        let cid = victim
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.first()?.container_id.clone())
            .ok_or("no container id")?;
        let cid = cid.split_once("://").map_or(cid.as_str(), |(_, id)| id);
        let pid = cluster.runtimes.container_pid(cid).ok_or("container process not found")?;
        display.note(format!("demo 1/3: killing pid {pid} of pod {}", victim.metadata.name));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| e.to_string())?;
        let pods: Api<Pod> = Api::namespaced(self.store.clone(), &self.namespace);
        let start = Instant::now();
        loop {
            let p = pods.get(&victim.metadata.name).await.map_err(|e| e.to_string())?;
            let restarts = p
                .status
                .as_ref()
                .map_or(0, |s| s.container_statuses.iter().map(|c| c.restart_count).sum::<i32>());
            display.show(&all_pods(&self.store).await);
            if restarts >= 1 && is_ready(&p) {
                display.note(format!("demo 1/3: pod {} restarted its container (restarts {restarts}) and is Ready again: check passed", p.metadata.name));
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err("the killed replica did not come back".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets the first container's image, reading the Deployment again if
    /// its controller updated it meanwhile (a merge patch would replace
    /// the container list whole).
    async fn set_image(&self, image: &str) -> Result<(), String> {
        let deployments: Api<Deployment> = Api::namespaced(self.store.clone(), &self.namespace);
        let mut attempts = 0;
        loop {
            let mut updated = deployments.get(&self.name).await.map_err(|e| e.to_string())?;
            updated.spec.template.spec.containers[0].image = image.to_owned();
            match deployments.replace(&updated).await {
                Ok(_) => return Ok(()),
                Err(orch_core::Error::Conflict { .. }) if attempts < 5 => attempts += 1,
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Waits until every replica runs `image`, Ready, and answers with its
    /// version; fails if ready pods fell below `replicas − maxUnavailable`
    /// on the way.
    async fn rolled_to(
        &self,
        image: &str,
        step: &str,
        display: &mut Display,
    ) -> Result<(), String> {
        let (want, version) = (self.replicas, version(image));
        let start = Instant::now();
        let mut min_ready = want;
        loop {
            display.show(&all_pods(&self.store).await);
            let live = self.pods().await;
            let ready = live.iter().filter(|p| is_ready(p)).count() as i32;
            min_ready = min_ready.min(ready);
            let on_new =
                live.iter().filter(|p| p.spec.containers[0].image == image && is_ready(p)).count()
                    as i32;
            if on_new == want && live.len() as i32 == want {
                for p in &live {
                    let addr = address(p).ok_or("pod without address")?;
                    let body = http_get(&addr).ok_or(format!("{addr} did not answer"))?;
                    if !body.ends_with(version) {
                        return Err(format!("{addr} answered {body:?}, not version {version}"));
                    }
                }
                display.note(format!("demo {step}: all {want} pods run {image} and answer version {version}; ready pods never fell below {min_ready} (replicas {want}, maxUnavailable {}): check passed", self.max_unavailable));
                return if min_ready >= want - self.max_unavailable {
                    Ok(())
                } else {
                    Err(format!("ready pods fell to {min_ready}"))
                };
            }
            if start.elapsed() > Duration::from_secs(120) {
                return Err(format!("rollout to {image} did not finish"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The demo: self-healing, a rolling update within maxUnavailable, a rollback.
pub async fn demo(
    cluster: &Cluster,
    workloads: &Workloads,
    display: &mut Display,
) -> Result<(), String> {
    let store: Arc<dyn Store> = cluster.store.clone();
    let (namespace, name) =
        workloads.deployments.first().cloned().ok_or("--demo needs a Deployment")?;
    let d = Api::<Deployment>::namespaced(store.clone(), &namespace)
        .get(&name)
        .await
        .map_err(|e| e.to_string())?;
    let target = Target {
        store: store.clone(),
        replicas: d.spec.replicas(),
        max_unavailable: rolling_bounds(&d).1,
        selector: LabelSelector::from_object(&d.spec.selector).map_err(|e| e.to_string())?,
        namespace,
        name,
    };

    // 1. Self-healing: kill one replica's process.
    target.heal(cluster, display).await?;

    // 2. Rolling update to the next version.
    let old_image = d.spec.template.spec.containers[0].image.clone();
    let new_image = bump(&old_image);
    display.note(format!("demo 2/3: updating {} from {old_image} to {new_image}", target.name));
    target.set_image(&new_image).await?;
    target.rolled_to(&new_image, "2/3", display).await?;

    // 3. Roll back to the previous revision.
    display.note(format!("demo 3/3: rolling {} back", target.name));
    rollback(store, &target.namespace, &target.name, None).await.map_err(|e| e.to_string())?;
    target.rolled_to(&old_image, "3/3", display).await
}
