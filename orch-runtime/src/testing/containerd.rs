//! [`ContainerdProcess`]: a private containerd for tests and demos — its
//! own config, root, state and CRI socket under one directory, started in
//! the background and stopped by PID, with everything it leaves behind
//! (tasks, shims, mounts, cgroups) cleaned up on drop. The config is the
//! one in `shared/CRI-NOTES.md`: the CRI plugin with runc, overlayfs,
//! cgroupfs, `restrict_oom_score_adj` and no AppArmor.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::image_layout::BusyboxImage;
use crate::{Error, Result};

/// The pause image the config names and [`ContainerdProcess::import_busybox_images`] makes.
pub const PAUSE_IMAGE: &str = "localhost/pause:latest";
/// The busybox image [`ContainerdProcess::import_busybox_images`] makes.
pub const BUSYBOX_IMAGE: &str = "localhost/busybox:latest";

/// Settings of a [`ContainerdProcess`].
#[derive(Clone, Debug)]
pub struct ContainerdProcessConfig {
    /// The directory holding config, root, state, socket and log; removed
    /// on drop.
    pub dir: PathBuf,
    /// The CRI plugin's `sandbox_image`.
    pub sandbox_image: String,
    /// Where CNI plugins are (the CRI plugin's `cni.bin_dir`).
    pub cni_bin_dir: PathBuf,
    /// The `containerd` binary.
    pub containerd: PathBuf,
    /// The `ctr` binary (image import).
    pub ctr: PathBuf,
    /// How long to wait for the socket to answer.
    pub start_timeout: Duration,
    /// Registries (`host:port`) the CRI plugin reaches over plain HTTP
    /// (a test registry on loopback), through its `registry.mirrors`.
    pub plain_http_registries: Vec<String>,
}

impl ContainerdProcessConfig {
    /// Defaults for a containerd under `dir`: pause image
    /// [`PAUSE_IMAGE`], binaries from `PATH`, CNI plugins in `/usr/lib/cni`,
    /// 20 s to start.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ContainerdProcessConfig {
            dir: dir.into(),
            sandbox_image: PAUSE_IMAGE.into(),
            cni_bin_dir: PathBuf::from("/usr/lib/cni"),
            containerd: PathBuf::from("containerd"),
            ctr: PathBuf::from("ctr"),
            start_timeout: Duration::from_secs(20),
            plain_http_registries: Vec::new(),
        }
    }
}

/// A containerd started for a test or a demo: its own config, root, state
/// and CRI socket under one directory (the config of `shared/CRI-NOTES.md`:
/// the CRI plugin with runc, overlayfs, cgroupfs, `restrict_oom_score_adj`,
/// no AppArmor), started in the background and stopped by PID. On drop it
/// kills every task and shim, unmounts what is mounted under its directory,
/// removes its containers' cgroups and the directory.
///
/// ```no_run
/// use orch_runtime::testing::{ContainerdProcess, ContainerdProcessConfig};
///
/// let containerd = ContainerdProcess::start(ContainerdProcessConfig::new("/tmp/orch-containerd"))?;
/// containerd.import_busybox_images()?; // localhost/pause:latest, localhost/busybox:latest
/// println!("CRI socket: {}", containerd.socket().display());
/// # Ok::<(), orch_runtime::Error>(())
/// ```
#[derive(Debug)]
pub struct ContainerdProcess {
    config: ContainerdProcessConfig,
    child: Option<Child>,
}

fn state_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::State { path: path.display().to_string(), reason: format!("{what}: {e}") }
}

impl ContainerdProcess {
    /// Writes the config and starts containerd, waiting until its socket
    /// accepts connections.
    ///
    /// Errors: [`Error::State`] if the directory cannot be made, the binary
    /// cannot be run, or containerd exits or does not answer within
    /// `start_timeout` (with the tail of its log).
    pub fn start(config: ContainerdProcessConfig) -> Result<Self> {
        let dir = &config.dir;
        for sub in ["root", "state", "cni/net.d", "logs"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| state_error(&dir.join(sub), "creating", e))?;
        }
        let toml = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
{mirrors}"#,
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            sock = dir.join("containerd.sock").display(),
            pause = config.sandbox_image,
            cni_bin = config.cni_bin_dir.display(),
            cni_conf = dir.join("cni/net.d").display(),
            mirrors = config
                .plain_http_registries
                .iter()
                .map(|host| format!(
                    "  [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{host}\"]\n    endpoint = [\"http://{host}\"]\n"
                ))
                .collect::<String>(),
        );
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, toml).map_err(|e| state_error(&config_path, "writing", e))?;
        let mut process = ContainerdProcess { config, child: None };
        process.spawn()?;
        Ok(process)
    }

    /// [`start`](Self::start), then [`import_busybox_images`](Self::import_busybox_images):
    /// a containerd ready for pods of the busybox image.
    ///
    /// Errors: as those two.
    pub fn start_with_busybox_images(config: ContainerdProcessConfig) -> Result<Self> {
        let process = Self::start(config)?;
        process.import_busybox_images()?;
        Ok(process)
    }

    /// A [`CriRuntimeConfig`](crate::cri::CriRuntimeConfig) for this containerd:
    /// its socket, pod logs and CNI configs under its directory.
    pub fn runtime_config(&self) -> crate::cri::CriRuntimeConfig {
        crate::cri::CriRuntimeConfig::new(self.socket())
            .pod_logs_root(self.pod_logs_dir())
            .cni_conf_dir(self.cni_conf_dir())
    }

    fn spawn(&mut self) -> Result<()> {
        let dir = &self.config.dir;
        let log_path = dir.join("containerd.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| state_error(&log_path, "opening", e))?;
        let err_log = log.try_clone().map_err(|e| state_error(&log_path, "opening", e))?;
        let child = Command::new(&self.config.containerd)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| state_error(&self.config.containerd, "starting containerd", e))?;
        self.child = Some(child);
        let deadline = Instant::now() + self.config.start_timeout;
        let socket = self.socket();
        loop {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(state_error(
                        &log_path,
                        "containerd exited at start",
                        format!("{status}; log tail:\n{}", log_tail(&log_path)),
                    ));
                }
            }
            if Instant::now() >= deadline {
                return Err(state_error(
                    &socket,
                    "containerd did not answer",
                    format!(
                        "within {} ms; log tail:\n{}",
                        self.config.start_timeout.as_millis(),
                        log_tail(&log_path)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The CRI (and containerd API) socket.
    pub fn socket(&self) -> PathBuf {
        self.config.dir.join("containerd.sock")
    }

    /// The CNI config directory the CRI plugin reads (empty: no pod network).
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.config.dir.join("cni/net.d")
    }

    /// A directory for pod logs under this containerd's directory.
    pub fn pod_logs_dir(&self) -> PathBuf {
        self.config.dir.join("logs")
    }

    /// containerd's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Imports an image tarball into the `k8s.io` namespace (where CRI
    /// looks) with `ctr images import`.
    ///
    /// Errors: [`Error::State`] if `ctr` fails (with its output).
    pub fn import_image(&self, tarball: &Path) -> Result<()> {
        self.ctr("k8s.io", &["images", "import", &tarball.to_string_lossy()])
    }

    /// Pushes an image tarball to a registry as `reference` (e.g.
    /// `127.0.0.1:5000/orch/busybox:1`) with `ctr images push --plain-http`,
    /// logging in as `user` (`name`, `password`) if given. The image goes
    /// through this containerd's `orch-push` namespace, not the one CRI uses.
    ///
    /// Errors: [`Error::State`] if a `ctr` step fails (with its output).
    pub fn push_image(
        &self,
        tarball: &Path,
        image: &str,
        reference: &str,
        user: Option<(&str, &str)>,
    ) -> Result<()> {
        let credentials = user.map(|(name, password)| format!("{name}:{password}"));
        let mut push = vec!["images", "push", "--plain-http"];
        if let Some(c) = &credentials {
            push.extend(["--user", c.as_str()]);
        }
        push.push(reference);
        let tarball = tarball.to_string_lossy();
        for args in [
            vec!["images", "import", tarball.as_ref()],
            vec!["images", "tag", "--force", image, reference],
            push,
        ] {
            self.ctr("orch-push", &args)?;
        }
        Ok(())
    }

    /// Runs `ctr` in `namespace` on this containerd.
    fn ctr(&self, namespace: &str, args: &[&str]) -> Result<()> {
        let out = Command::new(&self.config.ctr)
            .arg("--address")
            .arg(self.socket())
            .args(["-n", namespace])
            .args(args)
            .output()
            .map_err(|e| state_error(&self.config.ctr, "running ctr", e))?;
        if !out.status.success() {
            return Err(state_error(
                &self.config.ctr,
                &format!("ctr {}", args.join(" ")),
                format!(
                    "{}: {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ));
        }
        Ok(())
    }

    /// Builds and imports [`PAUSE_IMAGE`] (`sleep 2147483647`) and
    /// [`BUSYBOX_IMAGE`] (entrypoint `sh`) around the host's static busybox.
    ///
    /// Errors: as [`BusyboxImage::write_tarball`] and [`import_image`](Self::import_image).
    pub fn import_busybox_images(&self) -> Result<()> {
        let images = [
            BusyboxImage::new(&self.config.sandbox_image).entrypoint(&["sleep", "2147483647"]),
            BusyboxImage::new(BUSYBOX_IMAGE),
        ];
        for (i, image) in images.iter().enumerate() {
            let tarball = self.config.dir.join(format!("image-{i}.tar"));
            image.write_tarball(&tarball)?;
            self.import_image(&tarball)?;
            let _ = std::fs::remove_file(&tarball);
        }
        Ok(())
    }

    /// Stops containerd (SIGTERM, then SIGKILL after 10 s), leaving its
    /// containers running, as a daemon restart does.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts containerd again after [`stop`](Self::stop), on the same
    /// directories (its containers are still there).
    ///
    /// Errors: as [`start`](Self::start).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// Container (and sandbox) IDs with a task, and their init PIDs.
    fn tasks(&self) -> Vec<(String, Option<i32>)> {
        let dir = self.config.dir.join("state/io.containerd.runtime.v2.task/k8s.io");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        entries
            .flatten()
            .map(|e| {
                let pid = std::fs::read_to_string(e.path().join("init.pid"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                (e.file_name().to_string_lossy().into_owned(), pid)
            })
            .collect()
    }

    /// Kills every task and shim, stops containerd, unmounts and removes
    /// what it left (cgroups of its containers, mounts and files under its
    /// directory). Called on drop.
    pub fn cleanup(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let tasks = self.tasks();
        for (id, pid) in &tasks {
            // PID 1 of the container's PID namespace: the others die with
            // it. A task that already exited leaves its init.pid behind, and
            // the PID may since belong to another process (pid_max is often
            // 32768): only a process in the container's cgroup is killed.
            if let Some(pid) = pid.filter(|pid| in_container_cgroup(*pid, id)) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let socket = self.socket().display().to_string();
        for pid in processes_mentioning(&socket) {
            if Some(pid as u32) != self.pid() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        unmount_under(&self.config.dir);
        remove_cgroups(tasks.iter().map(|(id, _)| id.as_str()));
        let _ = std::fs::remove_dir_all(&self.config.dir);
    }
}

impl Drop for ContainerdProcess {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The last 4 KiB of a log file.
fn log_tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// Whether process `pid` is in container `id`'s cgroup (`…/k8s.io/<id>`,
/// the cgroupfs path containerd's CRI plugin gives it).
fn in_container_cgroup(pid: i32, id: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|c| c.lines().any(|l| l.ends_with(&format!("/k8s.io/{id}"))))
}

/// PIDs whose command line mentions `needle` (the shims name the socket).
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let Ok(proc_dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    proc_dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Unmounts every mount at or below `dir`, deepest first (lazily, so a
/// busy mount does not stop the rest).
fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let prefix = dir.display().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Removes the cgroup directories of these containers in every hierarchy
/// (cgroup v1 controllers or the v2 unified tree), waiting up to 2 s for
/// their processes to be gone.
fn remove_cgroups<'a>(ids: impl Iterator<Item = &'a str>) {
    let ids: Vec<&str> = ids.collect();
    let roots: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for root in roots.iter().chain(std::iter::once(&PathBuf::from("/sys/fs/cgroup"))) {
        for id in &ids {
            let d = root.join("k8s.io").join(id);
            if d.is_dir() {
                dirs.push(d);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while !dirs.is_empty() && Instant::now() < deadline {
        dirs.retain(|d| std::fs::remove_dir(d).is_err() && d.exists());
        if !dirs.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // The `k8s.io` parents stay: another test's containerd may be about to
    // create a container's cgroup in one that is empty for the moment, and
    // runc's mkdir fails if the parent vanishes under it (seen with cpuset
    // on cgroup v1). Empty cgroup directories cost nothing.
}
