//! Shared helpers of orch's benchmark binaries: timing, percentiles, and the
//! process's resident memory.

use std::time::Duration;

/// The `p`-th percentile (0–100) of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Operations per second.
pub fn rate(ops: u64, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64()
}

/// The median of some runs.
pub fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(|a, b| a.total_cmp(b));
    runs[runs.len() / 2]
}

/// The process's resident set size in bytes (Linux `/proc/self/status`),
/// `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Prints one figure against its floor, with a verdict.
pub fn report(name: &str, value: f64, unit: &str, floor: Option<(f64, bool)>) {
    match floor {
        Some((floor, higher_is_better)) => {
            let ok = if higher_is_better {
                value >= floor
            } else {
                value <= floor
            };
            let cmp = if higher_is_better { ">=" } else { "<=" };
            println!(
                "{name:<58} {value:>14.1} {unit:<9} (floor {cmp} {floor} {unit}: {})",
                if ok { "met" } else { "NOT MET" }
            );
        }
        None => println!("{name:<58} {value:>14.1} {unit}"),
    }
}
