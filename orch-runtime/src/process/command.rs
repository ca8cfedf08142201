//! What a container runs: its argv (command, or the image's entrypoint)
//! and the environment the process runtime gives it.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use super::state::{ContainerRecord, SandboxRecord};
use crate::runtime::{ContainerConfig, ExecSyncResponse};
use crate::{Error, Result};

/// The program and arguments a container runs: its `command` + `args`;
/// without a command, the image's entrypoint from `images` (by
/// `name:tag`, then `name`), or the image name itself as a program.
///
/// Errors: [`Error::Runtime`] for an image with a tag and no entrypoint.
pub(super) fn resolve_argv(
    images: &BTreeMap<String, Vec<String>>,
    config: &ContainerConfig,
) -> Result<Vec<String>> {
    if !config.command.is_empty() {
        return Ok(config.command.iter().chain(config.args.iter()).cloned().collect());
    }
    let image = &config.image.image;
    let entry = images.get(image).or_else(|| {
        let bare = image.rsplit_once(':').map_or(image.as_str(), |(n, _)| n);
        images.get(bare)
    });
    let mut argv = match entry {
        Some(e) if !e.is_empty() => e.clone(),
        _ if !image.is_empty() && !image.contains(':') => vec![image.clone()],
        _ => {
            return Err(Error::Runtime {
                call: "CreateContainer".into(),
                object: config.metadata.name.clone(),
                reason: format!(
                    "image {image:?} has no entrypoint in the process runtime: set the container's command, or map the image in ProcessRuntimeConfig::images"
                ),
            })
        }
    };
    argv.extend(config.args.iter().cloned());
    Ok(argv)
}

/// A command in a container's environment: a clean environment with `PATH`
/// inherited, then `HOSTNAME`, `POD_IP`, `ORCH_IMAGE`, `ORCH_ROOT` (with
/// mounts) and the container's env, in its working directory. Used for the
/// container and for exec.
pub(super) fn container_command(
    program: &str,
    args: &[String],
    record: &ContainerRecord,
    sandbox: &SandboxRecord,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("HOSTNAME", &sandbox.hostname)
        .env("POD_IP", &sandbox.ip)
        .env("ORCH_IMAGE", &record.image);
    if let Some(root) = &record.root {
        cmd.env(super::rootfs::ORCH_ROOT_ENV, root);
    }
    for (k, v) in &record.envs {
        cmd.env(k, v);
    }
    if !record.working_dir.is_empty() {
        cmd.current_dir(&record.working_dir);
    }
    cmd
}

/// CRI `ExecSync` in a container of the process runtime: `cmd` run as the
/// container's process is (same environment, directory and user), its
/// output collected; after `timeout` it is killed and the call fails.
///
/// Errors: [`Error::Runtime`] for an empty command, one that cannot start,
/// or the timeout.
pub(super) async fn exec_sync(
    record: &ContainerRecord,
    sandbox: &SandboxRecord,
    cmd: &[String],
    timeout: Duration,
) -> Result<ExecSyncResponse> {
    let err = |reason: String| Error::Runtime {
        call: "ExecSync".into(),
        object: record.name.clone(),
        reason,
    };
    let Some((program, args)) = cmd.split_first() else {
        return Err(err("empty command".into()));
    };
    let mut command =
        tokio::process::Command::from(container_command(program, args, record, sandbox));
    command.stdin(Stdio::null()).kill_on_drop(true);
    match tokio::time::timeout(timeout, command.output()).await {
        Ok(Ok(out)) => Ok(ExecSyncResponse {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.status.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + out.status.signal().unwrap_or(0)
            }),
        }),
        Ok(Err(e)) => Err(err(format!("{program}: {e}"))),
        Err(_) => Err(err(format!("timed out after {timeout:?}"))),
    }
}
