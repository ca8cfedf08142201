//! orch-sched: the scheduling framework of orch — kube-scheduler's extension
//! points as traits, its default plugins, profiles, the scheduling queue, the
//! cache with assumed pods, and the scheduler loop that binds pods.
//!
//! ```
//! use std::sync::Arc;
//! use orch_core::{Node, ObjectMeta, Pod};
//! use orch_sched::cache::{NodeInfo, PodInfo, Snapshot};
//! use orch_sched::cycle::{schedule_pod, Scheduling};
//! use orch_sched::framework::{config::ProfileConfig, Framework, Handle, Registry};
//!
//! let fw = Framework::new(&Registry::default(), &ProfileConfig::default(), &Handle::default())?;
//! let mut node = Node { metadata: ObjectMeta::named("node-1"), ..Default::default() };
//! node.status = Some(orch_core::kinds::node::NodeStatus {
//!     allocatable: [("cpu".to_string(), "4".into()), ("memory".to_string(), "8Gi".into()), ("pods".to_string(), "110".into())].into(),
//!     ..Default::default()
//! });
//! let snapshot = Snapshot::from_nodes(vec![NodeInfo::new(Arc::new(node), 1)]);
//! let pod = PodInfo::new(Arc::new(Pod { metadata: ObjectMeta::named("web-0"), ..Default::default() }));
//! let placed = schedule_pod(&fw, &snapshot, &pod, &mut Scheduling::default()).map_err(|e| e.message()).unwrap();
//! assert_eq!(placed.node, "node-1");
//! # Ok::<(), orch_sched::Error>(())
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod cache;
pub mod cycle;
pub mod cycle_state;
mod error;
pub mod framework;
pub mod metrics;
pub mod nominator;
pub mod plugins;
pub mod queue;
pub mod scheduler;
pub mod status;

pub use error::Error;
