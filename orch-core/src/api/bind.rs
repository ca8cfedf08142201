//! The Pod binding: [`Api::bind`], as Kubernetes' `pods/binding`.

use serde_json::Value;

use super::{Api, Part, Preconditions};
use crate::kinds::pod::Pod;
use crate::time::Time;
use crate::{Error, Result};

impl Api<Pod> {
    /// Binds a pending pod to a node in one write, as Kubernetes'
    /// `pods/binding` subresource: sets `spec.nodeName` and the
    /// `PodScheduled=True` condition. `preconditions` as a Binding's: with
    /// a uid, the pod must be that one (not a pod re-created under the same
    /// name since it was scheduled — kube-scheduler sets it); with a
    /// resourceVersion, it must not have changed since.
    ///
    /// Errors: [`Error::NotFound`]; [`Error::Conflict`] if the pod is already
    /// bound (to any node), is another pod than `preconditions.uid`, or
    /// changed since `preconditions.resource_version`.
    pub async fn bind(&self, name: &str, node: &str, preconditions: &Preconditions) -> Result<Pod> {
        if let Some(remote) = self.remote() {
            remote.bind(self.request_namespace(), name, node, preconditions).await?;
            return self.get(name).await;
        }
        let namespace = self.request_namespace().to_owned();
        let object = self.object_name(&namespace, name);
        let expected = match preconditions.resource_version.as_deref() {
            Some(rv) => Self::parse_resource_version(rv, &object)?,
            None => None,
        };
        let now = serde_json::to_value(Time::now()).unwrap_or(Value::Null);
        self.update(&namespace, name, expected, None, Part::Both, |current| {
            let mut pod = current.clone();
            let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
            if let Some(want) = preconditions.uid.as_deref().filter(|want| *want != uid) {
                return Err(Error::Conflict {
                    object: object.clone(),
                    expected: format!("uid {want}"),
                    actual: format!("uid {uid}"),
                });
            }
            let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty());
            if let Some(existing) = bound {
                return Err(Error::Conflict {
                    object: object.clone(),
                    expected: "an unbound pod".into(),
                    actual: format!("bound to {existing}"),
                });
            }
            pod["spec"]["nodeName"] = Value::from(node);
            if !pod["status"].is_object() {
                pod["status"] = serde_json::json!({});
            }
            let status = &mut pod["status"];
            if status.get("phase").is_none() {
                status["phase"] = Value::from("Pending");
            }
            let condition = serde_json::json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now});
            let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
            let mut kept: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
            kept.push(condition);
            status["conditions"] = Value::Array(kept);
            Ok(pod)
        })
        .await
    }
}
