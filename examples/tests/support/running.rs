//! An example left running: its stdout read line by line, stopped with
//! Ctrl-C (SIGINT) as a user would, killed if a test fails first.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use orch_core::testing::wait_for;

/// How long each wait on a running example may take.
pub const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// A running example; killed when dropped.
pub struct RunningExample {
    child: Child,
    lines: Receiver<String>,
}

impl RunningExample {
    /// Starts the built example `name` with `args` (stderr discarded).
    pub fn start(name: &str, args: &[&str]) -> RunningExample {
        let path = super::built_example(name).expect("the example is built with the tests");
        let mut child = Command::new(path)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        RunningExample { child, lines }
    }

    /// Reads lines until `found` maps one to a value. Fails at once if
    /// they end first (the example exited); the timeout names the last
    /// line read.
    pub async fn line_where<T>(&self, what: &str, found: impl Fn(&str) -> Option<T>) -> T {
        let mut last = String::new();
        wait_for(what, STEP_DEADLINE, || {
            let state = loop {
                match self.lines.try_recv() {
                    Ok(line) => match found(&line) {
                        Some(value) => break Ok(value),
                        None => last = line,
                    },
                    Err(TryRecvError::Empty) => break Err(format!("last line {last:?}")),
                    Err(TryRecvError::Disconnected) => {
                        panic!("the output ended while waiting for {what}; last line {last:?}")
                    }
                }
            };
            std::future::ready(state)
        })
        .await
    }

    /// Waits until the example listens for Ctrl-C, sends it, and waits for
    /// the example to exit.
    pub async fn interrupt(mut self) -> ExitStatus {
        self.line_where("the example to say it is running", |line| {
            line.starts_with("running; Ctrl-C to stop").then_some(())
        })
        .await;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid")),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT delivered");
        let child = &mut self.child;
        wait_for("the example to stop on Ctrl-C", STEP_DEADLINE, || {
            std::future::ready(child.try_wait().expect("waits").ok_or("running"))
        })
        .await
    }
}

impl Drop for RunningExample {
    /// Ctrl-C first, so that a failed test's cluster stops its pods as it
    /// does for a user (a SIGKILL would leave them holding their
    /// addresses); SIGKILL only if it has not exited 10 s later.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
