//! One scheduling cycle, as a plain function over a snapshot: PreFilter,
//! Filter (with the pods nominated to each node counted in, stopping once
//! enough feasible nodes are found, starting where the last cycle stopped),
//! PreScore, Score with NormalizeScore and weights,
//! and the best node with ties broken at random.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::cycle_state::CycleState;
use crate::framework::Framework;
use crate::nominator::NominatedPods;
use crate::status::Status;

/// kube-scheduler's `minFeasibleNodesToFind`.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// kube-scheduler's `minFeasibleNodesPercentageToFind`.
pub const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// How many feasible nodes to find before scoring, as kube-scheduler's
/// `numFeasibleNodesToFind`: all of them below 100 nodes; otherwise the
/// configured percentage, or adaptively 50 − nodes/125 percent (at least
/// 5 %), and never fewer than 100.
pub fn num_feasible_nodes_to_find(num_nodes: usize, percentage: Option<i32>) -> usize {
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_nodes;
    }
    let pct = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => (50usize.saturating_sub(num_nodes / 125)).max(MIN_FEASIBLE_NODES_PERCENTAGE),
    };
    if pct >= 100 {
        return num_nodes;
    }
    (num_nodes * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The node chosen for a pod.
#[derive(Debug)]
pub struct ScheduleResult {
    /// The node's name.
    pub node: String,
    /// Nodes filtered.
    pub evaluated: usize,
    /// Nodes that passed the filters.
    pub feasible: usize,
    /// The cycle's plugin data, for Reserve, Permit and binding.
    pub state: CycleState,
}

/// Why no node fits a pod.
#[derive(Debug)]
pub struct FitError {
    /// Nodes in the snapshot.
    pub num_nodes: usize,
    /// Each rejected node (snapshot index) with its status.
    pub statuses: Vec<(usize, Status)>,
    /// The PreFilter rejection, if the pod failed there (on every node).
    pub pre_filter: Option<Status>,
    /// The cycle's plugin data, for PostFilter.
    pub state: CycleState,
}

impl FitError {
    /// kube-scheduler's message: `0/5 nodes are available: 3 Insufficient
    /// cpu, 2 node(s) had untolerated taint {dedicated: gpu}.`
    pub fn message(&self) -> String {
        let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
        match &self.pre_filter {
            Some(s) => {
                for r in &s.reasons {
                    *histogram.entry(r.as_str()).or_default() += self.num_nodes;
                }
            }
            None => {
                for (_, s) in &self.statuses {
                    for r in &s.reasons {
                        *histogram.entry(r.as_str()).or_default() += 1;
                    }
                }
            }
        }
        let parts: Vec<String> = histogram.iter().map(|(r, n)| format!("{n} {r}")).collect();
        if parts.is_empty() {
            format!("0/{} nodes are available.", self.num_nodes)
        } else {
            format!("0/{} nodes are available: {}.", self.num_nodes, parts.join(", "))
        }
    }
}

/// State that carries from one cycle to the next.
#[derive(Debug)]
pub struct Scheduling {
    /// Where the next cycle starts filtering (round robin, as kube-scheduler).
    pub next_start: usize,
    /// For breaking ties.
    pub rng: fastrand::Rng,
    /// Filter on this many threads when there are many nodes; 1 filters
    /// on the calling thread (see BENCHMARKS.md for why that is the default).
    pub parallelism: usize,
}

impl Default for Scheduling {
    fn default() -> Self {
        Scheduling { next_start: 0, rng: fastrand::Rng::new(), parallelism: 1 }
    }
}

/// What Filter runs on, for one pod.
struct FilterInput<'a> {
    fw: &'a Framework,
    state: &'a CycleState,
    pod: &'a PodInfo,
    snapshot: &'a Snapshot,
    pre: &'a crate::framework::PreFilterOutcome,
    nominated: &'a NominatedPods,
}

/// Finds the nodes that pass the filters, up to `to_find`, from `start`.
fn find_feasible(
    input: &FilterInput<'_>,
    start: usize,
    to_find: usize,
    parallelism: usize,
) -> (Vec<usize>, Vec<(usize, Status)>, usize) {
    let FilterInput { fw, state, pod, snapshot, pre, nominated } = *input;
    let nodes = snapshot.nodes();
    let n = nodes.len();
    if parallelism > 1 && n >= 1000 {
        let found = AtomicUsize::new(0);
        let processed = AtomicUsize::new(0);
        let results: Vec<(usize, Status)> = (0..n)
            .into_par_iter()
            .with_min_len(n / (parallelism * 4).max(1))
            .filter_map(|i| {
                if found.load(Ordering::Relaxed) >= to_find {
                    return None;
                }
                processed.fetch_add(1, Ordering::Relaxed);
                let idx = (start + i) % n;
                let s = fw.run_filters_with_nominated_pods(state, pod, &nodes[idx], pre, nominated);
                if s.is_success() {
                    found.fetch_add(1, Ordering::Relaxed);
                }
                Some((idx, s))
            })
            .collect();
        let mut feasible = Vec::new();
        let mut rejected = Vec::new();
        for (idx, s) in results {
            if s.is_success() {
                if feasible.len() < to_find {
                    feasible.push(idx);
                }
            } else {
                rejected.push((idx, s));
            }
        }
        return (feasible, rejected, processed.load(Ordering::Relaxed));
    }
    let mut feasible = Vec::with_capacity(to_find.min(n));
    let mut rejected = Vec::new();
    let mut processed = 0;
    for i in 0..n {
        let idx = (start + i) % n;
        processed += 1;
        let s = fw.run_filters_with_nominated_pods(state, pod, &nodes[idx], pre, nominated);
        if s.is_success() {
            feasible.push(idx);
            if feasible.len() >= to_find {
                break;
            }
        } else {
            rejected.push((idx, s));
        }
    }
    (feasible, rejected, processed)
}

/// Runs one scheduling cycle for `pod` over `snapshot`.
///
/// Errors: a [`FitError`] when no node passes the filters (PostFilter is the
/// caller's next step).
pub fn schedule_pod(
    fw: &Framework,
    snapshot: &Snapshot,
    pod: &PodInfo,
    sched: &mut Scheduling,
) -> Result<ScheduleResult, Box<FitError>> {
    let mut state = CycleState::new();
    let n = snapshot.len();
    let pre = match fw.run_pre_filter(&mut state, pod, snapshot) {
        Ok(p) => p,
        Err(s) => {
            return Err(Box::new(FitError {
                num_nodes: n,
                statuses: Vec::new(),
                pre_filter: Some(s),
                state,
            }));
        }
    };
    if n == 0 {
        return Err(Box::new(FitError {
            num_nodes: 0,
            statuses: Vec::new(),
            pre_filter: None,
            state,
        }));
    }
    let to_find = num_feasible_nodes_to_find(n, fw.percentage_of_nodes_to_score);
    let start = sched.next_start % n;
    // The nominations as the cycle starts: nominated pods of equal or higher
    // priority hold their room on their node.
    let nominated = fw.nominator().nominated_pods();
    let input = FilterInput { fw, state: &state, pod, snapshot, pre: &pre, nominated: &nominated };
    let (feasible, rejected, processed) = find_feasible(&input, start, to_find, sched.parallelism);
    sched.next_start = (start + processed) % n;
    if feasible.is_empty() {
        return Err(Box::new(FitError {
            num_nodes: n,
            statuses: rejected,
            pre_filter: None,
            state,
        }));
    }
    let nodes = snapshot.nodes();
    let chosen = if feasible.len() == 1 {
        feasible[0]
    } else {
        let infos: Vec<&NodeInfo> = feasible.iter().map(|i| &*nodes[*i]).collect();
        let totals = match fw.run_scores(&mut state, pod, &infos, snapshot) {
            Ok(t) => t,
            Err(s) => {
                let statuses = feasible.iter().map(|i| (*i, s.clone())).collect();
                return Err(Box::new(FitError { num_nodes: n, statuses, pre_filter: None, state }));
            }
        };
        // The best score; ties broken uniformly at random (reservoir sampling).
        let mut best = 0;
        let mut ties = 0u32;
        for (i, score) in totals.iter().enumerate() {
            if *score > totals[best] {
                best = i;
                ties = 1;
            } else if *score == totals[best] {
                ties += 1;
                if sched.rng.u32(0..ties) == 0 {
                    best = i;
                }
            }
        }
        feasible[best]
    };
    Ok(ScheduleResult {
        node: nodes[chosen].name().to_owned(),
        evaluated: processed,
        feasible: feasible.len(),
        state,
    })
}
