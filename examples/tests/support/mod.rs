//! What the examples' tests share: running an example binary.
#![allow(dead_code)]

use std::process::Command;

pub mod kubectl;
pub mod running;

/// The example binary `cargo test` built alongside this test (same profile
/// and features): `target/<profile>/examples/<name>`.
pub fn built_example(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.is_file().then_some(path)
}

/// A command that runs example `name`: the binary built with this test
/// when there is one, so that a test run with other features than the
/// default does not rebuild the workspace; else `cargo run --example`.
pub fn example_command(name: &str) -> Command {
    let mut command = match built_example(name) {
        Some(path) => Command::new(path),
        None => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut c = Command::new(cargo);
            c.args(["run", "--quiet", "--example", name, "--"]);
            c
        }
    };
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}
