//! kube-scheduler's default plugins, named and weighted as there, one per
//! file, and the [`default_registry`] that registers them (which is also
//! [`Registry::default`]).

pub mod default_binder;
pub mod default_preemption;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod priority_sort;
pub mod taint_toleration;

use std::sync::Arc;

use crate::framework::config::PluginRef;
use crate::framework::{NodeScore, PluginSet, Registry, MAX_NODE_SCORE};

/// kube-scheduler's `DefaultNormalizeScore`: scales so the highest score is
/// 100; with `reverse`, the lowest raw score gets 100.
pub fn default_normalize(scores: &mut [NodeScore], reverse: bool) {
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    for s in scores.iter_mut() {
        let scaled = if max == 0 { 0 } else { s.score * MAX_NODE_SCORE / max };
        s.score = if reverse { MAX_NODE_SCORE - scaled } else { scaled };
    }
}

/// Min-max scaling to 0–100 (for scores that can be negative).
pub fn default_normalize_min_max(scores: &mut [NodeScore]) {
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
    for s in scores.iter_mut() {
        s.score = if max == min { 0 } else { MAX_NODE_SCORE * (s.score - min) / (max - min) };
    }
}

fn no_args(plugin: &str, args: &serde_json::Value) -> Result<(), crate::Error> {
    if args.is_null() || args.as_object().is_some_and(|o| o.is_empty()) {
        Ok(())
    } else {
        Err(crate::Error::PluginArgs { plugin: plugin.into(), reason: "takes no args".into() })
    }
}

/// Every default plugin, and the default profile's `multiPoint` set with
/// kube-scheduler's score weights: TaintToleration 3, NodeAffinity 2,
/// PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1,
/// NodeResourcesBalancedAllocation 1, ImageLocality 1.
pub fn default_registry() -> Registry {
    let mut r = Registry::empty();
    let reg = |r: &mut Registry,
               name: &'static str,
               f: fn(
        &serde_json::Value,
        &crate::framework::Handle,
    ) -> Result<PluginSet, crate::Error>| {
        // Names are distinct constants here, so registering cannot collide.
        let _ = r.register(name, f);
    };
    reg(&mut r, "PrioritySort", |a, _| {
        no_args("PrioritySort", a)?;
        Ok(PluginSet {
            queue_sort: Some(Arc::new(priority_sort::PrioritySort)),
            ..Default::default()
        })
    });
    reg(&mut r, "NodeUnschedulable", |a, _| {
        no_args("NodeUnschedulable", a)?;
        Ok(PluginSet {
            filter: Some(Arc::new(node_unschedulable::NodeUnschedulable)),
            ..Default::default()
        })
    });
    reg(&mut r, "NodeName", |a, _| {
        no_args("NodeName", a)?;
        Ok(PluginSet { filter: Some(Arc::new(node_name::NodeName)), ..Default::default() })
    });
    reg(&mut r, "TaintToleration", |a, _| {
        no_args("TaintToleration", a)?;
        let p = Arc::new(taint_toleration::TaintToleration);
        Ok(PluginSet { filter: Some(p.clone()), score: Some(p), ..Default::default() })
    });
    reg(&mut r, "NodeAffinity", |a, _| {
        no_args("NodeAffinity", a)?;
        let p = Arc::new(node_affinity::NodeAffinity);
        Ok(PluginSet {
            pre_filter: Some(p.clone()),
            filter: Some(p.clone()),
            score: Some(p),
            ..Default::default()
        })
    });
    reg(&mut r, "NodePorts", |a, _| {
        no_args("NodePorts", a)?;
        Ok(PluginSet { filter: Some(Arc::new(node_ports::NodePorts)), ..Default::default() })
    });
    reg(&mut r, "NodeResourcesFit", |a, _| {
        let p = Arc::new(node_resources_fit::NodeResourcesFit::from_args(a)?);
        Ok(PluginSet { filter: Some(p.clone()), score: Some(p), ..Default::default() })
    });
    reg(&mut r, "NodeResourcesBalancedAllocation", |a, _| {
        no_args("NodeResourcesBalancedAllocation", a)?;
        Ok(PluginSet {
            score: Some(Arc::new(
                node_resources_balanced_allocation::NodeResourcesBalancedAllocation,
            )),
            ..Default::default()
        })
    });
    reg(&mut r, "ImageLocality", |a, _| {
        no_args("ImageLocality", a)?;
        let p = Arc::new(image_locality::ImageLocality);
        Ok(PluginSet { pre_score: Some(p.clone()), score: Some(p), ..Default::default() })
    });
    reg(&mut r, "PodTopologySpread", |a, _| {
        no_args("PodTopologySpread", a)?;
        let p = Arc::new(pod_topology_spread::PodTopologySpread);
        Ok(PluginSet {
            pre_filter: Some(p.clone()),
            filter: Some(p.clone()),
            pre_score: Some(p.clone()),
            score: Some(p),
            ..Default::default()
        })
    });
    reg(&mut r, "InterPodAffinity", |a, _| {
        no_args("InterPodAffinity", a)?;
        let p = Arc::new(inter_pod_affinity::InterPodAffinity);
        Ok(PluginSet {
            pre_filter: Some(p.clone()),
            filter: Some(p.clone()),
            pre_score: Some(p.clone()),
            score: Some(p),
            ..Default::default()
        })
    });
    reg(&mut r, "DefaultPreemption", |a, h| {
        no_args("DefaultPreemption", a)?;
        Ok(PluginSet {
            post_filter: Some(Arc::new(default_preemption::DefaultPreemption::new(
                h.store.clone(),
            ))),
            ..Default::default()
        })
    });
    reg(&mut r, "DefaultBinder", |a, h| {
        no_args("DefaultBinder", a)?;
        Ok(PluginSet {
            bind: h.store.clone().map(|s| {
                Arc::new(default_binder::DefaultBinder::new(s))
                    as Arc<dyn crate::framework::BindPlugin>
            }),
            ..Default::default()
        })
    });
    r.set_defaults(vec![
        PluginRef::named("PrioritySort"),
        PluginRef::named("NodeUnschedulable"),
        PluginRef::named("NodeName"),
        PluginRef::weighted("TaintToleration", 3),
        PluginRef::weighted("NodeAffinity", 2),
        PluginRef::named("NodePorts"),
        PluginRef::weighted("NodeResourcesFit", 1),
        PluginRef::weighted("NodeResourcesBalancedAllocation", 1),
        PluginRef::weighted("ImageLocality", 1),
        PluginRef::weighted("PodTopologySpread", 2),
        PluginRef::weighted("InterPodAffinity", 2),
        PluginRef::named("DefaultPreemption"),
        PluginRef::named("DefaultBinder"),
    ]);
    r
}

/// The registry with every default plugin: [`default_registry`].
impl Default for Registry {
    fn default() -> Self {
        default_registry()
    }
}
