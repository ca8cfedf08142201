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
use crate::framework::{
    BindPlugin, FilterPlugin, Handle, NodeScore, PluginSet, PreFilterPlugin, PreScorePlugin,
    Registry, ScorePlugin, MAX_NODE_SCORE,
};

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

/// Registers a plugin that takes no args (any given are refused with
/// `PluginArgs`); `make` builds its extension points.
fn register_argless(r: &mut Registry, name: &'static str, make: fn(&Handle) -> PluginSet) {
    // Names are distinct constants here, so registering cannot collide.
    let _ = r.register(name, move |args: &serde_json::Value, h: &Handle| {
        no_args(name, args)?;
        Ok(make(h))
    });
}

/// The extension points of a plugin that filters and scores with state it
/// computes once per pod (PreFilter, Filter, PreScore, Score).
fn with_pre_filter_and_pre_score<P>(p: Arc<P>) -> PluginSet
where
    P: PreFilterPlugin + FilterPlugin + PreScorePlugin + ScorePlugin + 'static,
{
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

/// Every default plugin, and the default profile's `multiPoint` set with
/// kube-scheduler's score weights: TaintToleration 3, NodeAffinity 2,
/// PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1,
/// NodeResourcesBalancedAllocation 1, ImageLocality 1.
pub fn default_registry() -> Registry {
    let mut r = Registry::empty();
    register_argless(&mut r, "PrioritySort", |_| PluginSet {
        queue_sort: Some(Arc::new(priority_sort::PrioritySort)),
        ..Default::default()
    });
    register_argless(&mut r, "NodeUnschedulable", |_| PluginSet {
        filter: Some(Arc::new(node_unschedulable::NodeUnschedulable)),
        ..Default::default()
    });
    register_argless(&mut r, "NodeName", |_| PluginSet {
        filter: Some(Arc::new(node_name::NodeName)),
        ..Default::default()
    });
    register_argless(&mut r, "TaintToleration", |_| {
        let p = Arc::new(taint_toleration::TaintToleration);
        PluginSet { filter: Some(p.clone()), score: Some(p), ..Default::default() }
    });
    register_argless(&mut r, "NodeAffinity", |_| {
        let p = Arc::new(node_affinity::NodeAffinity);
        PluginSet {
            pre_filter: Some(p.clone()),
            filter: Some(p.clone()),
            score: Some(p),
            ..Default::default()
        }
    });
    register_argless(&mut r, "NodePorts", |_| PluginSet {
        filter: Some(Arc::new(node_ports::NodePorts)),
        ..Default::default()
    });
    // Names are distinct constants here, so registering cannot collide.
    let _ = r.register("NodeResourcesFit", |a, _| {
        let p = Arc::new(node_resources_fit::NodeResourcesFit::from_args(a)?);
        Ok(PluginSet { filter: Some(p.clone()), score: Some(p), ..Default::default() })
    });
    register_argless(&mut r, "NodeResourcesBalancedAllocation", |_| PluginSet {
        score: Some(Arc::new(node_resources_balanced_allocation::NodeResourcesBalancedAllocation)),
        ..Default::default()
    });
    register_argless(&mut r, "ImageLocality", |_| {
        let p = Arc::new(image_locality::ImageLocality);
        PluginSet { pre_score: Some(p.clone()), score: Some(p), ..Default::default() }
    });
    register_argless(&mut r, "PodTopologySpread", |_| {
        with_pre_filter_and_pre_score(Arc::new(pod_topology_spread::PodTopologySpread))
    });
    register_argless(&mut r, "InterPodAffinity", |_| {
        with_pre_filter_and_pre_score(Arc::new(inter_pod_affinity::InterPodAffinity))
    });
    register_argless(&mut r, "DefaultPreemption", |h| PluginSet {
        post_filter: Some(Arc::new(default_preemption::DefaultPreemption::new(h.store.clone()))),
        ..Default::default()
    });
    register_argless(&mut r, "DefaultBinder", |h| PluginSet {
        bind: h
            .store
            .clone()
            .map(|s| Arc::new(default_binder::DefaultBinder::new(s)) as Arc<dyn BindPlugin>),
        ..Default::default()
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
