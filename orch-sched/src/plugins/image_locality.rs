//! ImageLocality (Score): prefers nodes that already have the pod's images,
//! weighted by image size and by how widely the image is spread, as
//! kube-scheduler's plugin (23 MB to 1000 MB per container).

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::framework::{PreScorePlugin, ScorePlugin, MAX_NODE_SCORE};
use crate::status::Status;

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;
const KEY: &str = "ImageLocality";

/// The ImageLocality plugin.
#[derive(Debug, Default)]
pub struct ImageLocality;

/// How many nodes have each of the pod's images, and of how many.
struct Spread {
    counts: Vec<(String, usize)>,
    total: usize,
}

/// Kubernetes normalizes image names: no tag means `:latest`.
fn normalized(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

fn has(node: &NodeInfo, image: &str) -> Option<i64> {
    node.image_sizes.get(image).or_else(|| node.image_sizes.get(&normalized(image))).copied()
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        if snapshot.nodes().iter().all(|n| n.image_sizes.is_empty()) {
            return Status::skip();
        }
        let counts = pod
            .pod
            .spec
            .containers
            .iter()
            .map(|c| {
                let n = snapshot.nodes().iter().filter(|n| has(n, &c.image).is_some()).count();
                (c.image.clone(), n)
            })
            .collect();
        state.write(KEY, Spread { counts, total: snapshot.len() });
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(spread) = state.read::<Spread>(KEY) else {
            return Ok(0);
        };
        let mut sum = 0i64;
        for (image, count) in &spread.counts {
            if let Some(size) = has(node, image) {
                sum += (size as f64 * (*count as f64 / spread.total.max(1) as f64)) as i64;
            }
        }
        let max = MAX_CONTAINER_THRESHOLD * pod.pod.spec.containers.len().max(1) as i64;
        let clamped = sum.clamp(MIN_THRESHOLD, max);
        Ok(MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (max - MIN_THRESHOLD))
    }
}
