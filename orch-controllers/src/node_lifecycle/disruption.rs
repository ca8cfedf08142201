//! Zone disruption, as kube-controller-manager's node lifecycle controller
//! judges it: how unhealthy each zone is, and how fast the controller may
//! taint its nodes for eviction. Pure functions of observed node health.
//!
//! A zone is the pair of a node's `topology.kubernetes.io/region` and
//! `topology.kubernetes.io/zone` labels (nodes without them share the zone
//! `""`). Its state:
//!
//! - **FullDisruption**: no node Ready and at least one not;
//! - **PartialDisruption**: more than 2 nodes not Ready and at least
//!   `--unhealthy-zone-threshold` (0.55) of the zone's nodes;
//! - **Normal** otherwise.
//!
//! Nodes of a Normal or fully disrupted zone are tainted at
//! `--node-eviction-rate` (0.1 nodes per second); of a partially disrupted
//! zone at `--secondary-node-eviction-rate` (0.01) if the zone has more
//! than `--large-cluster-size-threshold` (50) nodes, else not at all. When
//! every zone is fully disrupted the controller assumes the fault is its
//! own (or the network's) and taints nothing: "master disruption mode".

use std::collections::BTreeMap;

use orch_core::kinds::node::Node;

/// The label of a node's zone.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// The label of a node's region.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";

/// The settings that govern tainting rates (kube-controller-manager's flags
/// of the same names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvictionRates {
    /// `--node-eviction-rate`: nodes per second tainted in a healthy (or
    /// fully disrupted) zone. Default 0.1.
    pub eviction_rate: f64,
    /// `--secondary-node-eviction-rate`: nodes per second in a partially
    /// disrupted large zone. Default 0.01.
    pub secondary_eviction_rate: f64,
    /// `--unhealthy-zone-threshold`: the fraction of not-Ready nodes (with
    /// more than 2 of them) from which a zone is partially disrupted.
    /// Default 0.55.
    pub unhealthy_zone_threshold: f64,
    /// `--large-cluster-size-threshold`: a partially disrupted zone of at
    /// most this many nodes is not tainted at all. Default 50.
    pub large_cluster_size_threshold: usize,
}

impl Default for EvictionRates {
    fn default() -> Self {
        EvictionRates {
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
        }
    }
}

/// A zone's health (Kubernetes' `ZoneState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    /// Few nodes not Ready.
    Normal,
    /// Many nodes not Ready: tainting slows down or stops.
    PartialDisruption,
    /// No node Ready.
    FullDisruption,
}

/// The zone key of `node`: `region/zone` from its topology labels.
pub fn zone_of(node: &Node) -> String {
    let label = |k: &str| node.metadata.labels.get(k).map(String::as_str).unwrap_or("");
    let (region, zone) = (label(LABEL_REGION), label(LABEL_ZONE));
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}/{zone}")
    }
}

/// The state of a zone with `ready` Ready nodes and `not_ready` others
/// (Kubernetes' `ComputeZoneState`).
pub fn zone_state(ready: usize, not_ready: usize, threshold: f64) -> ZoneState {
    let total = ready + not_ready;
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / total as f64 >= threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// Nodes per second the controller may taint in a zone of `size` nodes in
/// `state`.
pub fn tainting_rate(state: ZoneState, size: usize, rates: &EvictionRates) -> f64 {
    match state {
        ZoneState::Normal | ZoneState::FullDisruption => rates.eviction_rate,
        ZoneState::PartialDisruption if size > rates.large_cluster_size_threshold => {
            rates.secondary_eviction_rate
        }
        ZoneState::PartialDisruption => 0.0,
    }
}

/// Every zone's state and size, from `(zone, ready)` for each node.
pub fn zone_states<'a>(
    nodes: impl IntoIterator<Item = (&'a str, bool)>,
    threshold: f64,
) -> BTreeMap<String, (ZoneState, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (zone, ready) in nodes {
        let c = counts.entry(zone.to_owned()).or_default();
        if ready {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    counts
        .into_iter()
        .map(|(zone, (ready, not_ready))| {
            (zone, (zone_state(ready, not_ready, threshold), ready + not_ready))
        })
        .collect()
}

/// Whether every zone is fully disrupted — and there is at least one:
/// master disruption mode, in which nothing is tainted for eviction.
pub fn all_fully_disrupted(states: &BTreeMap<String, (ZoneState, usize)>) -> bool {
    !states.is_empty() && states.values().all(|(s, _)| *s == ZoneState::FullDisruption)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_states_follow_kubernetes_compute_zone_state() {
        let t = 0.55;
        let cases = [
            // (ready, not ready, state)
            (3, 0, ZoneState::Normal),
            (0, 1, ZoneState::FullDisruption),
            (0, 5, ZoneState::FullDisruption),
            (1, 2, ZoneState::Normal), // 2 not ready is never partial
            (1, 3, ZoneState::PartialDisruption), // 75 %
            (3, 3, ZoneState::Normal), // 50 % < 55 %
            (9, 11, ZoneState::PartialDisruption), // exactly 55 %
            (0, 0, ZoneState::Normal),
        ];
        for (ready, not_ready, want) in cases {
            assert_eq!(zone_state(ready, not_ready, t), want, "{ready} ready, {not_ready} not");
        }
    }

    #[test]
    fn tainting_slows_in_a_large_partially_disrupted_zone_and_stops_in_a_small_one() {
        let r = EvictionRates::default();
        assert_eq!(tainting_rate(ZoneState::Normal, 10, &r), 0.1);
        assert_eq!(tainting_rate(ZoneState::FullDisruption, 10, &r), 0.1);
        assert_eq!(tainting_rate(ZoneState::PartialDisruption, 51, &r), 0.01);
        assert_eq!(tainting_rate(ZoneState::PartialDisruption, 50, &r), 0.0);
    }

    #[test]
    fn master_disruption_only_when_every_zone_has_no_ready_node() {
        let t = 0.55;
        let states = zone_states([("a", false), ("a", false), ("b", false)], t);
        assert!(all_fully_disrupted(&states));
        let states = zone_states([("a", false), ("a", false), ("b", true)], t);
        assert_eq!(states["a"], (ZoneState::FullDisruption, 2));
        assert_eq!(states["b"], (ZoneState::Normal, 1));
        assert!(!all_fully_disrupted(&states), "zone b still has a Ready node");
        assert!(!all_fully_disrupted(&zone_states([], t)), "no nodes: no disruption");
    }

    #[test]
    fn a_node_zone_is_its_region_and_zone_labels() {
        let mut n = Node::default();
        assert_eq!(zone_of(&n), "");
        n.metadata.labels.insert(LABEL_ZONE.into(), "z1".into());
        assert_eq!(zone_of(&n), "/z1");
        n.metadata.labels.insert(LABEL_REGION.into(), "r1".into());
        assert_eq!(zone_of(&n), "r1/z1");
    }
}
