//! Test support for orch's tests and for embedders' own (feature
//! `testing`): waiting on a condition with a deadline, and a [`Store`]
//! wrapper that injects faults.
//!
//! Tests wait on conditions, never on sleeps: [`wait_for`] polls a check
//! until it holds and fails the test, with the last state the check
//! described, once the deadline has passed.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use orch_core::testing::{wait_for, wait_until};
//!
//! let polls = AtomicU32::new(0);
//! // A condition: true once it has been polled three times.
//! wait_until("three polls", Duration::from_secs(5), || async {
//!     polls.fetch_add(1, Ordering::SeqCst) >= 2
//! })
//! .await;
//! // A value, with the state to report if it never comes.
//! let n = wait_for("a fourth poll", Duration::from_secs(5), || async {
//!     let n = polls.fetch_add(1, Ordering::SeqCst);
//!     if n >= 3 { Ok(n) } else { Err(format!("{n} polls")) }
//! })
//! .await;
//! assert_eq!(n, 3);
//! # });
//! ```

mod faulty_store;

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

pub use faulty_store::FaultyStore;

/// How often [`wait_for`] and [`wait_until`] poll: 5 milliseconds.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Polls `check` every [`POLL_INTERVAL`] until it returns `Ok(value)`, and
/// returns that value. `Err(state)` means "not yet"; `state` says what the
/// check saw, and the last one is in the panic message.
///
/// # Panics
///
/// When `deadline` (wall-clock time from the first poll) passes first:
/// `timed out after {deadline:?} waiting for {what}: {state}`.
pub async fn wait_for<T, S, F, Fut>(what: impl Display, deadline: Duration, mut check: F) -> T
where
    S: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let start = Instant::now();
    loop {
        let state = match check().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}: {state}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `check` every [`POLL_INTERVAL`] until it returns true.
///
/// # Panics
///
/// When `deadline` passes first: `timed out after {deadline:?} waiting for
/// {what}`.
pub async fn wait_until<F, Fut>(what: impl Display, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, deadline, || {
        let done = check();
        async move {
            if done.await {
                Ok(())
            } else {
                Err("still false")
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[should_panic(expected = "timed out after 20ms waiting for the impossible: 7 apples")]
    async fn a_check_that_never_holds_fails_with_its_last_state() {
        wait_for("the impossible", Duration::from_millis(20), || async {
            Err::<(), _>("7 apples")
        })
        .await;
    }

    #[tokio::test]
    async fn a_check_that_holds_returns_its_value_at_once() {
        let v = wait_for("a value", Duration::ZERO, || async { Ok::<_, String>(42) }).await;
        assert_eq!(v, 42);
    }
}
