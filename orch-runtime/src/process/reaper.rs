//! Reaping: container processes' exits, noticed as SIGCHLD arrives (and by
//! polling, for adopted processes that are no longer children), reported
//! once their output is fully in the log.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::sync::Notify;

use super::state::{ContainerRecord, RecordState};
use super::{now_ns, Inner};

/// An exit seen but not yet reported: exit code, reason, message, and when.
pub(super) type PendingExit = (i32, &'static str, String, tokio::time::Instant);

/// How long an exit waits for its output copiers (a background process that
/// kept the container's stdout open would hold it forever).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks since boot.
pub(super) fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

pub(super) fn mark_exited_unknown(c: &mut ContainerRecord) {
    c.state = RecordState::Exited;
    c.exit_code = 255;
    c.finished_at = now_ns();
    c.reason = "Unknown".into();
    c.message = "the process exited while no runtime watched it".into();
    c.pid = None;
}

impl Inner {
    /// Reaps exited container processes.
    pub(super) fn reap(&self) {
        let _reaping = self.reaping.lock();
        let running: Vec<(String, i32, Option<u64>)> = self
            .containers
            .lock()
            .values()
            .filter(|c| c.state == RecordState::Running)
            .filter_map(|c| c.pid.map(|p| (c.id.clone(), p, c.start_ticks)))
            .collect();
        let mut any = false;
        let running: Vec<(String, i32, Option<u64>)> = {
            let pending = self.pending_exits.lock();
            running.into_iter().filter(|(id, _, _)| !pending.contains_key(id)).collect()
        };
        for (id, pid, ticks) in running {
            let outcome = match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => {
                    Some((code, if code == 0 { "Completed" } else { "Error" }, String::new()))
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    Some((128 + sig as i32, "Error", format!("killed by {sig}")))
                }
                Err(Errno::ECHILD) => {
                    // Not our child (adopted after a restart): is it still there?
                    if start_ticks(pid).is_some() && start_ticks(pid) == ticks {
                        None
                    } else {
                        Some((
                            255,
                            "Unknown",
                            "the process exited while no runtime watched it".to_owned(),
                        ))
                    }
                }
                _ => None,
            };
            if let Some((code, reason, message)) = outcome {
                // Anything the container left in its process group goes too.
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                self.pending_exits
                    .lock()
                    .insert(id, (code, reason, message, tokio::time::Instant::now()));
            }
        }
        // Report exits once their output is fully in the log.
        let pending: Vec<String> = self.pending_exits.lock().keys().cloned().collect();
        for id in pending {
            let copying =
                self.streams.lock().get(&id).is_some_and(|s| s.open.load(Ordering::Acquire) > 0);
            let Some((code, reason, message, seen)) = self.pending_exits.lock().get(&id).cloned()
            else {
                continue;
            };
            if copying && seen.elapsed() < OUTPUT_GRACE {
                continue;
            }
            self.pending_exits.lock().remove(&id);
            self.streams.lock().remove(&id);
            let mut containers = self.containers.lock();
            if let Some(c) = containers.get_mut(&id) {
                c.state = RecordState::Exited;
                c.exit_code = code;
                c.finished_at = now_ns();
                c.reason = reason.to_owned();
                c.message = message;
                c.pid = None;
                let snapshot = c.clone();
                drop(containers);
                self.save_container(&snapshot);
            }
            any = true;
        }
        if any {
            self.exited.notify_waiters();
        }
    }

    /// Waits until the container is no longer running, at most `timeout`.
    pub(super) async fn wait_exit(&self, id: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.exited.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.reap();
            match self.containers.lock().get(id) {
                Some(c) if c.state == RecordState::Running => {}
                _ => return true,
            }
            // SIGCHLD wakes the reaper; poll too, for adopted non-children.
            let step = tokio::time::Instant::now() + Duration::from_millis(20);
            if tokio::time::timeout_at(deadline.min(step), &mut notified).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return false;
            }
        }
    }
}

/// Reaps as SIGCHLD arrives (and every second, for adopted processes that
/// are not children); ends when the runtime is dropped.
pub(super) async fn reap_loop(weak: Weak<Inner>, output_done: Arc<Notify>) {
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).ok();
    loop {
        let done = output_done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        let pending = match weak.upgrade() {
            Some(inner) => {
                inner.reap();
                let pending = !inner.pending_exits.lock().is_empty();
                pending
            }
            None => return,
        };
        // Exits waiting on their output are looked at again shortly.
        let tick = if pending { Duration::from_millis(50) } else { Duration::from_secs(1) };
        match sigchld.as_mut() {
            Some(s) => {
                tokio::select! {
                    _ = s.recv() => {}
                    _ = &mut done => {}
                    _ = tokio::time::sleep(tick) => {}
                }
            }
            None => {
                tokio::select! {
                    _ = &mut done => {}
                    _ = tokio::time::sleep(tick.min(Duration::from_millis(100))) => {}
                }
            }
        }
    }
}
