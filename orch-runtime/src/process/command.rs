//! What a container runs: its argv (command, or the image's entrypoint)
//! and the environment the process runtime gives it.

use std::collections::BTreeMap;

use super::state::{ContainerRecord, SandboxRecord};
use crate::runtime::ContainerConfig;
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
