//! Leader election on a Lease object, as client-go's `leaderelection` and
//! controller-runtime use it: 15 s lease, 10 s renew deadline, 2 s retry.
//!
//! One instance holds the Lease and runs its controllers; the others retry
//! every `retry_period`. The holder renews every `retry_period`; if it cannot
//! renew for `renew_deadline`, it stops its controllers (and waits for them)
//! before anyone else may take over — which needs `lease_duration` to pass
//! since the others last saw the Lease change. `renew_deadline` <
//! `lease_duration` leaves the margin for that stop. Time is measured on each
//! instance's own monotonic clock, never by comparing clocks.
//!
//! ```no_run
//! # async fn demo(api: orch_core::Api<orch_core::Lease>) {
//! use orch_core::controller::{LeaderElectionConfig, LeaderElector};
//! use tokio_util::sync::CancellationToken;
//!
//! let elector = LeaderElector::new(api, "orch-controllers", "instance-a", LeaderElectionConfig::default());
//! elector
//!     .run(CancellationToken::new(), |leading| async move {
//!         // run controllers with `.run(reconciler, leading.clone())`
//!         leading.cancelled().await;
//!     })
//!     .await;
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::kinds::lease::{Lease, LeaseSpec};
use crate::meta::ObjectMeta;
use crate::time::MicroTime;
use crate::{Error, Result};

/// Timing of a [`LeaderElector`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// How long a Lease stays valid without renewal, as others see it.
    pub lease_duration: Duration,
    /// How long the holder keeps leading while renewals fail.
    pub renew_deadline: Duration,
    /// Interval between acquire and renew attempts.
    pub retry_period: Duration,
}

impl Default for LeaderElectionConfig {
    /// controller-runtime's defaults: 15 s, 10 s, 2 s.
    fn default() -> Self {
        LeaderElectionConfig {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    transitions: Option<i32>,
}

/// Competes for one Lease and runs work while holding it.
#[must_use = "a LeaderElector does nothing until run"]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    config: LeaderElectionConfig,
    /// The Lease record last seen, and when (on this instance's clock).
    observed: Mutex<Option<(Observed, Instant)>>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("lease", &self.name)
            .field("identity", &self.identity)
            .finish()
    }
}

impl LeaderElector {
    /// An elector for the Lease `name` (in `api`'s namespace), as `identity`.
    pub fn new(api: Api<Lease>, name: &str, identity: &str, config: LeaderElectionConfig) -> Self {
        LeaderElector {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            config,
            observed: Mutex::new(None),
        }
    }

    /// This instance's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// One attempt to acquire or renew the Lease. `Ok(true)` if this
    /// instance holds it now.
    ///
    /// Errors: the Api's, other than a lost race (which is `Ok(false)`).
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = MicroTime::now();
        let duration_seconds = self.config.lease_duration.as_secs().max(1) as i32;
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta::named(self.name.clone()),
                spec: LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                },
                ..Default::default()
            };
            return match self.api.create(&lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                Err(Error::AlreadyExists { .. }) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let seen_at = self.observe(&current);
        let holder = current.spec.holder_identity.as_deref().unwrap_or("");
        let mine = holder == self.identity;
        if !mine && !holder.is_empty() && seen_at.elapsed() < self.config.lease_duration {
            return Ok(false);
        }
        let mut next = current.clone();
        next.spec.renew_time = Some(now);
        next.spec.lease_duration_seconds = Some(duration_seconds);
        if !mine {
            next.spec.holder_identity = Some(self.identity.clone());
            next.spec.acquire_time = Some(now);
            next.spec.lease_transitions = Some(current.spec.lease_transitions.unwrap_or(0) + 1);
        }
        match self.api.replace(&next).await {
            Ok(written) => {
                self.observe(&written);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records the Lease as seen; returns when its record last changed.
    fn observe(&self, lease: &Lease) -> Instant {
        let record = Observed {
            holder: lease.spec.holder_identity.clone(),
            renew_time: lease.spec.renew_time,
            transitions: lease.spec.lease_transitions,
        };
        let mut observed = self.observed.lock();
        match &*observed {
            Some((r, at)) if *r == record => *at,
            _ => {
                let at = Instant::now();
                *observed = Some((record, at));
                at
            }
        }
    }

    /// Gives the Lease up if this instance holds it, so another can take
    /// over at once.
    async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            if lease.spec.holder_identity.as_deref() == Some(&self.identity) {
                lease.spec.holder_identity = None;
                lease.spec.renew_time = Some(MicroTime::now());
                if let Err(e) = self.api.replace(&lease).await {
                    tracing::warn!(lease = %self.name, error = %e, "could not release the lease");
                }
            }
        }
    }

    /// Runs until `shutdown` is cancelled: whenever this instance becomes
    /// leader, calls `leading` with a token that is cancelled when
    /// leadership is lost (or on shutdown), and waits for the work it
    /// returns to finish before trying to lead again. On shutdown it releases
    /// the Lease.
    pub async fn run<F, Fut>(&self, shutdown: CancellationToken, mut leading: F)
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let retry = self.config.retry_period;
        loop {
            // Follower: try to acquire every retry period.
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                match tokio::time::timeout(retry, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::warn!(lease = %self.name, error = %e, "acquire failed"),
                    Err(_) => tracing::warn!(lease = %self.name, "acquire timed out"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(retry) => {}
                }
            }
            tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
            let token = CancellationToken::new();
            let mut work = tokio::spawn(leading(token.clone()));
            let mut renewed_at = Instant::now();
            let mut work_done = false;
            let stepping_down = loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break true,
                    _ = &mut work => {
                        work_done = true;
                        break false;
                    }
                    _ = tokio::time::sleep(retry) => {}
                }
                let deadline = renewed_at + self.config.renew_deadline;
                match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => renewed_at = Instant::now(),
                    Ok(Ok(false)) => {
                        tracing::warn!(lease = %self.name, "lease taken by another instance");
                        break false;
                    }
                    Ok(Err(e)) => tracing::warn!(lease = %self.name, error = %e, "renew failed"),
                    Err(_) => tracing::warn!(lease = %self.name, "renew timed out"),
                }
                if Instant::now() >= renewed_at + self.config.renew_deadline {
                    tracing::warn!(lease = %self.name, "not renewed within the renew deadline");
                    break false;
                }
            };
            token.cancel();
            if !work_done {
                let _ = work.await;
            }
            tracing::info!(lease = %self.name, identity = %self.identity, "stopped leading");
            if stepping_down {
                self.release().await;
                return;
            }
        }
    }
}
