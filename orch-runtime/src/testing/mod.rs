//! Test and demo fixtures (feature `testing`), kept out of what an
//! embedder sees by default:
//!
//! * [`demo_server`]: the tiny HTTP server behind the `orch-web` program
//!   and the cluster example's pods;
//! * with feature `cri`: `ContainerdProcess`, a private containerd on a
//!   socket of its own, and `BusyboxImage`, OCI image-layout tarballs
//!   around Debian's busybox-static, so that CRI tests and demos need no
//!   registry.

#[cfg(feature = "cri")]
mod containerd;
pub mod demo_server;
#[cfg(feature = "cri")]
mod image_layout;

#[cfg(feature = "cri")]
pub use containerd::{ContainerdProcess, ContainerdProcessConfig, BUSYBOX_IMAGE, PAUSE_IMAGE};
#[cfg(feature = "cri")]
pub use image_layout::{BusyboxImage, DEFAULT_BUSYBOX};
