//! Mounts without a mount namespace: the process runtime's stand-in for a
//! container's root filesystem.
//!
//! A process sees the node's filesystem, so a [`Mount`] cannot appear at its
//! `container_path` as it does in a container. Instead a container with
//! mounts gets a directory of its own, `<runtime root>/rootfs/<container
//! id>`, passed to it (and to exec) as `ORCH_ROOT`; each mount's
//! `container_path` is a symlink there to its `host_path`. The process
//! reads `$ORCH_ROOT/etc/config/app.conf` where a container reads
//! `/etc/config/app.conf` — and a script written as `${ORCH_ROOT}/etc/config`
//! runs unchanged in a real container, where `ORCH_ROOT` is unset.
//!
//! Because it is a symlink to the host path, whatever changes there (a
//! ConfigMap volume's atomic update) is seen at once. `readonly` is not
//! enforced (the process runs as the agent's user, who owns the files), and
//! a mount inside another mount's path is refused: its symlink would have
//! to be made inside the other mount's host directory.

use std::path::{Component, Path, PathBuf};

use crate::runtime::Mount;

/// The environment variable naming a container's root directory.
pub(crate) const ORCH_ROOT_ENV: &str = "ORCH_ROOT";

/// The relative form of an absolute container path, or why it is refused
/// (relative, or with a `..` element).
fn relative_container_path(container_path: &str) -> Result<PathBuf, String> {
    let path = Path::new(container_path);
    if !path.is_absolute() {
        return Err(format!("mount path {container_path:?} must be absolute"));
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            _ => return Err(format!("mount path {container_path:?} must not contain '..'")),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("mounting over the container's root is not supported".into());
    }
    Ok(out)
}

/// Makes `root` with one symlink per mount (`root/<container_path>` →
/// `host_path`). On error nothing is left behind.
///
/// Errors: a sentence for CreateContainer: a bad container path, a mount
/// inside another mount, a host path that is not absolute, or a failed
/// filesystem call.
pub(crate) fn make(root: &Path, mounts: &[Mount]) -> Result<(), String> {
    let result = make_links(root, mounts);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(root);
    }
    result
}

fn make_links(root: &Path, mounts: &[Mount]) -> Result<(), String> {
    std::fs::create_dir_all(root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    let mut sorted: Vec<&Mount> = mounts.iter().collect();
    sorted.sort_by(|a, b| a.container_path.cmp(&b.container_path));
    for m in sorted {
        if !Path::new(&m.host_path).is_absolute() {
            return Err(format!("mount host path {:?} must be absolute", m.host_path));
        }
        let rel = relative_container_path(&m.container_path)?;
        // Every parent must be a real directory of `root`, never a symlink
        // an earlier mount made (that would write into its host path).
        let mut at = root.to_path_buf();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                at.push(c);
                match std::fs::symlink_metadata(&at) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        return Err(format!(
                        "mount {:?} is inside another mount: not supported by the process runtime",
                        m.container_path
                    ))
                    }
                    Ok(_) => {}
                    Err(_) => std::fs::create_dir(&at)
                        .map_err(|e| format!("creating {}: {e}", at.display()))?,
                }
            }
        }
        let link = root.join(&rel);
        if std::fs::symlink_metadata(&link).is_ok() {
            return Err(format!("two mounts at {:?}", m.container_path));
        }
        std::os::unix::fs::symlink(&m.host_path, &link)
            .map_err(|e| format!("linking {}: {e}", link.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(container_path: &str, host_path: &Path) -> Mount {
        Mount {
            container_path: container_path.into(),
            host_path: host_path.display().to_string(),
            readonly: true,
        }
    }

    #[test]
    fn each_mount_is_a_symlink_at_its_container_path() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("vol");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("key"), "v").unwrap();
        let root = dir.path().join("root");
        make(&root, &[mount("/etc/config", &host), mount("/etc/other", &host)]).unwrap();
        assert_eq!(std::fs::read_link(root.join("etc/config")).unwrap(), host);
        assert_eq!(std::fs::read_to_string(root.join("etc/config/key")).unwrap(), "v");
        assert!(root.join("etc/other/key").exists());
    }

    #[test]
    fn bad_and_nested_mounts_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("vol");
        std::fs::create_dir(&host).unwrap();
        let root = dir.path().join("root");
        for (mounts, want) in [
            (vec![mount("relative", &host)], "must be absolute"),
            (vec![mount("/a/../b", &host)], "must not contain '..'"),
            (vec![mount("/", &host)], "root"),
            (vec![mount("/data", &host), mount("/data/sub", &host)], "inside another mount"),
            (vec![mount("/x", Path::new("rel"))], "must be absolute"),
        ] {
            let err = make(&root, &mounts).unwrap_err();
            assert!(err.contains(want), "{mounts:?}: {err}");
            assert!(!root.exists());
            assert!(
                std::fs::read_dir(&host).unwrap().next().is_none(),
                "nothing written into the host path"
            );
        }
    }
}
