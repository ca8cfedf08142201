//! The Job controller, after Kubernetes' `job` controller: runs a Job's
//! Pods to `completions` successes, `parallelism` at a time, and records
//! `Complete` or `Failed` ([`plan`] decides; this module reads the Pods and
//! writes what it decided).
//!
//! * Pods come from the template, named `{job}-{random}` (`{job}-{index}-…`
//!   for an Indexed Job, which also gets `JOB_COMPLETION_INDEX` in every
//!   container and the completion-index annotation), labelled
//!   `batch.kubernetes.io/job-name` and `job-name`, with a controller owner
//!   reference; a Job's Pods are the ones it controls.
//! * Expectations keep it from creating twice on a cache that has not
//!   caught up with its own creates; at most [`BURST`] Pods are created per
//!   reconcile, in slow-start batches.
//! * Failed Pods are kept (their count is the Job's `failed`); the back-off
//!   base is Kubernetes' 10 s, [`JobController::backoff_base`] changes it.
//! * A Job past its `ttlSecondsAfterFinished` is deleted with its Pods.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::controller_ref;
use crate::expectations::Expectations;
use crate::pod_creation::{create_pods, Owner};
use orch_core::api::{Api, DeleteParams, PropagationPolicy};
use orch_core::controller::{
    object_reference, Action, Cache, Context, Controller, EventRecorder, EventType,
    InformerFactory, ObjectKey, Reconciler, INDEX_NAMESPACE,
};
use orch_core::kinds::job::Job;
use orch_core::kinds::pod::{EnvVar, Pod};
use orch_core::meta::ObjectMeta;
use orch_core::store::Store;
use orch_core::{Error, Time};

pub use plan::{plan, Plan, COMPLETION_INDEX_ANNOTATION};

/// The most Pods created per reconcile (Kubernetes' 500); the next
/// reconcile, when the cache has seen them, creates the rest.
pub const BURST: usize = 500;

/// The label with the Job's name on each of its Pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// The Job controller. See the [module docs](self).
pub struct JobController {
    store: Arc<dyn Store>,
    pods: Cache<Pod>,
    recorder: EventRecorder,
    expectations: Expectations,
    backoff_base: Duration,
}

impl std::fmt::Debug for JobController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobController").field("backoff_base", &self.backoff_base).finish()
    }
}

impl JobController {
    /// A controller reading Pods from the factory's shared informer.
    pub fn new(factory: &InformerFactory) -> Self {
        JobController {
            store: factory.store().clone(),
            pods: factory.informer::<Pod>().cache().clone(),
            recorder: EventRecorder::new(factory.store().clone(), "job-controller", None),
            expectations: Expectations::default(),
            backoff_base: Duration::from_secs(10),
        }
    }

    /// Changes the first back-off after a failed Pod (Kubernetes: 10 s).
    #[must_use]
    pub fn backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// The runner for this controller: Jobs and the Pods they own.
    pub fn controller(factory: Arc<InformerFactory>) -> Controller<Job> {
        Controller::<Job>::new(factory).owns::<Pod>().name("job")
    }

    fn owned(&self, job: &Job) -> Vec<Arc<Pod>> {
        let uid = &job.metadata.uid;
        self.pods
            .by_index(INDEX_NAMESPACE, &job.metadata.namespace)
            .into_iter()
            .filter(|p| p.metadata.controller_owner().is_some_and(|o| o.uid == *uid))
            .collect()
    }

    async fn create(
        &self,
        job: &Job,
        key: &ObjectKey,
        indexes: &[Option<i32>],
    ) -> Result<(), Error> {
        let api: Api<Pod> = Api::namespaced(self.store.clone(), &job.metadata.namespace);
        let pods: Vec<Pod> = indexes.iter().take(BURST).map(|i| pod_for(job, *i)).collect();
        let owner = Owner {
            key,
            reference: object_reference(job),
            expectations: &self.expectations,
            recorder: &self.recorder,
        };
        create_pods(&api, &pods, &owner).await
    }
}

/// A Pod of `job` from its template, with completion `index` for an
/// Indexed Job.
pub fn pod_for(job: &Job, index: Option<i32>) -> Pod {
    let template = &job.spec.template;
    let mut labels = template.metadata.labels.clone();
    labels.insert(JOB_NAME_LABEL.into(), job.metadata.name.clone());
    labels.insert("job-name".into(), job.metadata.name.clone());
    let mut annotations = template.metadata.annotations.clone();
    let mut spec = template.spec.clone();
    let generate_name = match index {
        Some(i) => {
            annotations.insert(COMPLETION_INDEX_ANNOTATION.into(), i.to_string());
            for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut()) {
                c.env.push(EnvVar {
                    name: "JOB_COMPLETION_INDEX".into(),
                    value: Some(i.to_string()),
                    ..Default::default()
                });
            }
            format!("{}-{i}-", job.metadata.name)
        }
        None => format!("{}-", job.metadata.name),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name,
            namespace: job.metadata.namespace.clone(),
            labels,
            annotations,
            finalizers: template.metadata.finalizers.clone(),
            owner_references: vec![controller_ref(job)],
            ..Default::default()
        },
        spec,
        ..Default::default()
    }
}

#[async_trait]
impl Reconciler for JobController {
    type Object = Job;
    type Error = Error;

    async fn reconcile(&self, job: Arc<Job>, ctx: &Context) -> Result<Action, Error> {
        let key = &ctx.key;
        let namespace = job.metadata.namespace.clone();
        // Expectations before the Pods, as the ReplicaSet controller.
        let synced = self.expectations.satisfied_by(key, &self.pods);
        if !synced || job.metadata.is_deleting() {
            return Ok(Action::await_change());
        }
        let pods = self.owned(&job);
        let plan = plan::plan(&job, &pods, Time::now(), self.backoff_base);
        let jobs: Api<Job> = Api::namespaced(self.store.clone(), &namespace);
        if plan.delete_job {
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..Default::default()
            };
            return match jobs.delete(&job.metadata.name, &params).await {
                Ok(_) | Err(Error::NotFound { .. }) => Ok(Action::await_change()),
                Err(e) => Err(e),
            };
        }
        let pods_api: Api<Pod> = Api::namespaced(self.store.clone(), &namespace);
        for name in &plan.delete {
            match pods_api.delete(name, &DeleteParams::default()).await {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let created = self.create(&job, key, &plan.create).await;
        if job.status.as_ref() != Some(&plan.status) {
            let finished = |s: &orch_core::kinds::job::JobStatus, t: &str| {
                orch_core::condition::find_condition(&s.conditions, t)
                    .is_some_and(|c| c.status == "True")
            };
            let before = job.status.clone().unwrap_or_default();
            for (type_, event, kind) in [
                ("Complete", "Completed", EventType::Normal),
                ("Failed", "BackoffLimitExceeded", EventType::Warning),
            ] {
                if finished(&plan.status, type_) && !finished(&before, type_) {
                    let reason =
                        orch_core::condition::find_condition(&plan.status.conditions, type_)
                            .and_then(|c| c.reason.clone())
                            .unwrap_or_else(|| event.to_owned());
                    let _ = self
                        .recorder
                        .record(
                            &object_reference(&*job),
                            kind,
                            &reason,
                            &format!("Job {}", type_.to_lowercase()),
                        )
                        .await;
                }
            }
            let status = serde_json::to_value(&plan.status).unwrap_or_default();
            let write = |current: &serde_json::Value| {
                let mut v = current.clone();
                v["status"] = status.clone();
                Ok(v)
            };
            match jobs.patch_status_with(&job.metadata.name, None, write).await {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        created?;
        Ok(match plan.requeue_after {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }
}
