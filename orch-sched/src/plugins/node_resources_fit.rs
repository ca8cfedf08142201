//! NodeResourcesFit: Filter rejects nodes without room for the pod's
//! requests (cpu, memory, ephemeral storage, pods, extended resources);
//! Score ranks by a strategy (weight 1 in the default profile):
//! `LeastAllocated` (default), `MostAllocated`, or
//! `RequestedToCapacityRatio` with a utilization → score shape.
//!
//! Args, as kube-scheduler's `NodeResourcesFitArgs`:
//! `{scoringStrategy: {type, resources: [{name, weight}], requestedToCapacityRatio: {shape: [{utilization, score}]}}, ignoredResources: [..]}`.

use serde::Deserialize;
use serde_json::Value;

use crate::cache::{NodeInfo, PodInfo};
use crate::cycle_state::CycleState;
use crate::framework::{FilterPlugin, ScorePlugin, MAX_NODE_SCORE};
use crate::status::Status;
use crate::Error;

/// A resource and its weight in a score.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ResourceWeight {
    /// `cpu`, `memory`, or an extended resource.
    pub name: String,
    /// Weight; default 1.
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

/// A point of the RequestedToCapacityRatio shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct ShapePoint {
    /// Utilization, 0–100.
    pub utilization: i64,
    /// Score at that utilization, 0–10.
    pub score: i64,
}

/// How NodeResourcesFit scores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Prefer emptier nodes (spreads pods).
    LeastAllocated,
    /// Prefer fuller nodes (packs pods).
    MostAllocated,
    /// Score by a piecewise-linear function of utilization.
    RequestedToCapacityRatio(Vec<ShapePoint>),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default)]
    scoring_strategy: Option<StrategyArgs>,
    #[serde(default)]
    ignored_resources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StrategyArgs {
    #[serde(rename = "type", default)]
    type_: Option<String>,
    #[serde(default)]
    resources: Vec<ResourceWeight>,
    #[serde(default)]
    requested_to_capacity_ratio: Option<ShapeArgs>,
}

#[derive(Deserialize)]
struct ShapeArgs {
    shape: Vec<ShapePoint>,
}

/// The NodeResourcesFit plugin.
#[derive(Debug)]
pub struct NodeResourcesFit {
    strategy: Strategy,
    resources: Vec<ResourceWeight>,
    ignored: Vec<String>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit {
            strategy: Strategy::LeastAllocated,
            resources: vec![
                ResourceWeight { name: "cpu".into(), weight: 1 },
                ResourceWeight { name: "memory".into(), weight: 1 },
            ],
            ignored: Vec::new(),
        }
    }
}

impl NodeResourcesFit {
    /// Reads `NodeResourcesFitArgs` (`null` for the defaults).
    ///
    /// Errors: [`Error::PluginArgs`] for unknown strategies or fields of the wrong type.
    pub fn from_args(args: &Value) -> Result<Self, Error> {
        let bad = |reason: String| Error::PluginArgs { plugin: "NodeResourcesFit".into(), reason };
        let mut plugin = NodeResourcesFit::default();
        if args.is_null() {
            return Ok(plugin);
        }
        let a: Args = serde_json::from_value(args.clone()).map_err(|e| bad(e.to_string()))?;
        plugin.ignored = a.ignored_resources;
        if let Some(s) = a.scoring_strategy {
            if !s.resources.is_empty() {
                plugin.resources = s.resources;
            }
            plugin.strategy = match s.type_.as_deref().unwrap_or("LeastAllocated") {
                "LeastAllocated" => Strategy::LeastAllocated,
                "MostAllocated" => Strategy::MostAllocated,
                "RequestedToCapacityRatio" => {
                    let mut shape =
                        s.requested_to_capacity_ratio.map(|r| r.shape).ok_or_else(|| {
                            bad("RequestedToCapacityRatio needs requestedToCapacityRatio.shape"
                                .into())
                        })?;
                    if shape.is_empty() {
                        return Err(bad("the shape needs at least one point".into()));
                    }
                    shape.sort_by_key(|p| p.utilization);
                    Strategy::RequestedToCapacityRatio(shape)
                }
                other => return Err(bad(format!("unknown scoring strategy {other:?}"))),
            };
        }
        Ok(plugin)
    }

    /// (requested after placing the pod, allocatable) for one resource.
    fn amounts(pod: &PodInfo, node: &NodeInfo, resource: &str) -> (i64, i64) {
        match resource {
            "cpu" => (node.non_zero_milli_cpu + pod.non_zero_milli_cpu, node.allocatable.milli_cpu),
            "memory" => (node.non_zero_memory + pod.non_zero_memory, node.allocatable.memory),
            "ephemeral-storage" => (
                node.requested.ephemeral_storage + pod.requests.ephemeral_storage,
                node.allocatable.ephemeral_storage,
            ),
            other => (
                node.requested.scalar.get(other).copied().unwrap_or(0)
                    + pod.requests.scalar.get(other).copied().unwrap_or(0),
                node.allocatable.scalar.get(other).copied().unwrap_or(0),
            ),
        }
    }
}

/// Piecewise-linear interpolation of `shape` (scores 0–10) at `utilization`,
/// scaled to 0–100.
fn shape_score(shape: &[ShapePoint], utilization: i64) -> i64 {
    let scale = MAX_NODE_SCORE / 10;
    let first = shape[0];
    if utilization <= first.utilization {
        return first.score * scale;
    }
    for w in shape.windows(2) {
        let (a, b) = (w[0], w[1]);
        if utilization <= b.utilization {
            let span = (b.utilization - a.utilization).max(1);
            let s = a.score * scale
                + (b.score - a.score) * scale * (utilization - a.utilization) / span;
            return s;
        }
    }
    shape[shape.len() - 1].score * scale
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let (req, alloc, used) = (&pod.requests, &node.allocatable, &node.requested);
        let mut reasons = Vec::new();
        if used.pods + 1 > alloc.pods {
            reasons.push("Too many pods".to_owned());
        }
        if req.milli_cpu > 0 && used.milli_cpu + req.milli_cpu > alloc.milli_cpu {
            reasons.push("Insufficient cpu".to_owned());
        }
        if req.memory > 0 && used.memory + req.memory > alloc.memory {
            reasons.push("Insufficient memory".to_owned());
        }
        if req.ephemeral_storage > 0
            && used.ephemeral_storage + req.ephemeral_storage > alloc.ephemeral_storage
        {
            reasons.push("Insufficient ephemeral-storage".to_owned());
        }
        for (name, amount) in &req.scalar {
            if *amount == 0 || self.ignored.contains(name) {
                continue;
            }
            let have = alloc.scalar.get(name).copied().unwrap_or(0);
            let taken = used.scalar.get(name).copied().unwrap_or(0);
            if taken + amount > have {
                reasons.push(format!("Insufficient {name}"));
            }
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status { code: crate::status::Code::Unschedulable, reasons, plugin: String::new() }
        }
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let mut total = 0i64;
        let mut weights = 0i64;
        for r in &self.resources {
            let (requested, allocatable) = Self::amounts(pod, node, &r.name);
            if allocatable == 0 {
                continue;
            }
            let s = match &self.strategy {
                Strategy::LeastAllocated => {
                    if requested > allocatable {
                        0
                    } else {
                        (allocatable - requested) * MAX_NODE_SCORE / allocatable
                    }
                }
                Strategy::MostAllocated => {
                    requested.min(allocatable) * MAX_NODE_SCORE / allocatable
                }
                Strategy::RequestedToCapacityRatio(shape) => {
                    shape_score(shape, requested.min(allocatable) * 100 / allocatable)
                }
            };
            total += s * r.weight;
            weights += r.weight;
        }
        Ok(if weights == 0 { 0 } else { total / weights })
    }
}
