//! Container images without a registry: an OCI image-layout tarball around
//! a static busybox (Debian's `busybox-static`), which `ctr images import`
//! loads into containerd. Used by the tests and the cluster example to make
//! a pause image and a busybox image on a machine that reaches no registry.
//!
//! The image: one gzipped layer holding `/bin/busybox` with a symlink per
//! applet (`sh`, `sleep`, `httpd`, …), empty `etc proc sys dev tmp var/www`,
//! `/etc/passwd` and `/etc/group`; a config with the entrypoint, `PATH=/bin`
//! and the layer's diff ID; a manifest; and `index.json`, whose manifest
//! descriptor carries `io.containerd.image.name` (the full reference) and
//! `org.opencontainers.image.ref.name` (the tag). Every file has mtime 0 and
//! owner root, so the same inputs give the same digests.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Where Debian's busybox-static puts the static binary.
pub const DEFAULT_BUSYBOX: &str = "/bin/busybox";

/// A busybox image to write as an OCI image-layout tarball.
///
/// ```no_run
/// use orch_runtime::testing::BusyboxImage;
///
/// BusyboxImage::new("localhost/pause:latest")
///     .entrypoint(&["sleep", "2147483647"])
///     .write_tarball(std::path::Path::new("/tmp/pause.tar"))?;
/// # Ok::<(), orch_runtime::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct BusyboxImage {
    /// Full reference, e.g. `localhost/busybox:latest`.
    pub name: String,
    /// The image's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image's `Cmd`.
    pub cmd: Vec<String>,
    /// The static busybox binary to put in it.
    pub busybox: PathBuf,
}

fn io_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::State { path: path.display().to_string(), reason: format!("{what}: {e}") }
}

/// The OCI architecture name of this machine.
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl BusyboxImage {
    /// An image named `name` (tag `latest` if none) with `sh` as entrypoint,
    /// around [`DEFAULT_BUSYBOX`].
    pub fn new(name: &str) -> Self {
        let name = if name.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            name.to_owned()
        } else {
            format!("{name}:latest")
        };
        BusyboxImage {
            name,
            entrypoint: vec!["sh".into()],
            cmd: Vec::new(),
            busybox: PathBuf::from(DEFAULT_BUSYBOX),
        }
    }

    /// Sets the entrypoint.
    #[must_use]
    pub fn entrypoint(mut self, entrypoint: &[&str]) -> Self {
        self.entrypoint = entrypoint.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets the default arguments.
    #[must_use]
    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = cmd.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The applets of the busybox binary (`busybox --list`).
    fn applets(&self) -> Result<Vec<String>> {
        let out = std::process::Command::new(&self.busybox)
            .arg("--list")
            .output()
            .map_err(|e| io_error(&self.busybox, "running busybox --list", e))?;
        if !out.status.success() {
            return Err(io_error(&self.busybox, "busybox --list", out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(str::to_owned)
            .collect())
    }

    /// The uncompressed layer tar.
    fn layer(&self) -> Result<Vec<u8>> {
        let binary =
            std::fs::read(&self.busybox).map_err(|e| io_error(&self.busybox, "reading", e))?;
        let mut tar = tar::Builder::new(Vec::new());
        let err = |e: std::io::Error| io_error(&self.busybox, "building the layer", e);
        for (dir, mode) in [
            ("bin", 0o755),
            ("etc", 0o755),
            ("proc", 0o555),
            ("sys", 0o555),
            ("dev", 0o755),
            ("tmp", 0o1777),
            ("root", 0o700),
            ("var", 0o755),
            ("var/www", 0o755),
        ] {
            let mut h = header(tar::EntryType::Directory, mode, 0);
            tar.append_data(&mut h, format!("{dir}/"), std::io::empty()).map_err(err)?;
        }
        let mut h = header(tar::EntryType::Regular, 0o755, binary.len() as u64);
        tar.append_data(&mut h, "bin/busybox", binary.as_slice()).map_err(err)?;
        for applet in self.applets()? {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut h, format!("bin/{applet}"), "busybox").map_err(err)?;
        }
        let files: [(&str, &str); 3] = [
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            ),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
            ("var/www/index.html", "orch busybox\n"),
        ];
        for (path, body) in files {
            let mut h = header(tar::EntryType::Regular, 0o644, body.len() as u64);
            tar.append_data(&mut h, path, body.as_bytes()).map_err(err)?;
        }
        tar.into_inner().map_err(err)
    }

    /// Writes the image as an OCI image-layout tarball at `out`, ready for
    /// `ctr -n k8s.io images import`.
    ///
    /// Errors: [`Error::State`] if busybox cannot be read or run, or `out`
    /// cannot be written.
    pub fn write_tarball(&self, out: &Path) -> Result<()> {
        let layer = self.layer()?;
        let diff_id = digest(&layer);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer).map_err(|e| io_error(out, "compressing the layer", e))?;
        let layer_gz = gz.finish().map_err(|e| io_error(out, "compressing the layer", e))?;
        let config = serde_json::to_vec(&json!({
            "architecture": oci_arch(),
            "os": "linux",
            "config": {
                "Entrypoint": self.entrypoint,
                "Cmd": self.cmd,
                "Env": ["PATH=/bin"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .map_err(|e| io_error(out, "encoding the config", e))?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(&config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest(&layer_gz),
                "size": layer_gz.len(),
            }],
        }))
        .map_err(|e| io_error(out, "encoding the manifest", e))?;
        let tag = self.name.rsplit_once(':').map_or("latest", |(_, t)| t);
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest(&manifest),
                "size": manifest.len(),
                "platform": {"architecture": oci_arch(), "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": self.name,
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        }))
        .map_err(|e| io_error(out, "encoding the index", e))?;

        let mut tar = tar::Builder::new(Vec::new());
        let err = |e: std::io::Error| io_error(out, "building the tarball", e);
        let mut entries: Vec<(String, &[u8])> = vec![
            ("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json".into(), &index),
        ];
        for blob in [&config, &manifest, &layer_gz] {
            let hex = digest(blob).trim_start_matches("sha256:").to_owned();
            entries.push((format!("blobs/sha256/{hex}"), blob.as_slice()));
        }
        for (path, body) in entries {
            let mut h = header(tar::EntryType::Regular, 0o644, body.len() as u64);
            tar.append_data(&mut h, &path, body).map_err(err)?;
        }
        let bytes = tar.into_inner().map_err(err)?;
        std::fs::write(out, bytes).map_err(|e| io_error(out, "writing", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_the_latest_tag_when_they_have_none() {
        assert_eq!(BusyboxImage::new("localhost/busybox").name, "localhost/busybox:latest");
        assert_eq!(BusyboxImage::new("localhost:5000/bb:1").name, "localhost:5000/bb:1");
        assert_eq!(BusyboxImage::new("localhost:5000/bb").name, "localhost:5000/bb:latest");
    }

    #[test]
    fn a_missing_busybox_is_a_clear_error() {
        let mut image = BusyboxImage::new("localhost/x");
        image.busybox = PathBuf::from("/nonexistent/busybox");
        let out = std::env::temp_dir().join(format!("orch-missing-{}.tar", std::process::id()));
        let e = image.write_tarball(&out).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/busybox"), "{e}");
    }
}
