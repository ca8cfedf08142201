//! orch-runtime: the node side of orch — the [`Runtime`](runtime::Runtime)
//! trait in CRI's vocabulary, and [`ProcessRuntime`](process::ProcessRuntime),
//! which runs containers as local processes (the embedded default: no root,
//! no images).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
//! use orch_runtime::runtime::*;
//!
//! let root = std::env::temp_dir().join(format!("orch-doc-{}", std::process::id()));
//! let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(&root))?;
//! let sandbox = PodSandboxConfig {
//!     metadata: PodSandboxMetadata { name: "web-0".into(), uid: "u1".into(), namespace: "default".into(), attempt: 0 },
//!     ..Default::default()
//! };
//! let pod = rt.run_pod_sandbox(&sandbox).await?;
//! let ip = rt.pod_sandbox_status(&pod).await?.ip; // e.g. 127.0.1.1
//! let config = ContainerConfig {
//!     metadata: ContainerMetadata { name: "hello".into(), attempt: 0 },
//!     command: vec!["sh".into(), "-c".into(), "echo listening on $POD_IP".into()],
//!     ..Default::default()
//! };
//! let c = rt.create_container(&pod, &config, &sandbox).await?;
//! rt.start_container(&c).await?;
//! rt.stop_container(&c, Duration::from_secs(1)).await?;
//! assert_eq!(rt.container_status(&c).await?.state, ContainerState::Exited);
//! rt.remove_pod_sandbox(&pod).await?;
//! # let _ = std::fs::remove_dir_all(&root);
//! # let _ = ip;
//! # Ok::<(), orch_runtime::Error>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod agent;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "cri")]
pub mod cri;
mod error;
pub mod process;
pub mod runtime;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
