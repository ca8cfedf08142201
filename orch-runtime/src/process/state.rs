//! What the process runtime remembers, as JSON files in its state directory,
//! so that a restarted agent finds its sandboxes and containers again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::{
    Container, ContainerMetadata, ContainerState, ContainerStatus, ImageSpec, PodSandbox,
    PodSandboxMetadata, PodSandboxState, PodSandboxStatus,
};
use crate::{Error, Result};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SandboxRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) namespace: String,
    pub(crate) attempt: u32,
    pub(crate) hostname: String,
    pub(crate) log_directory: PathBuf,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) ip: String,
    pub(crate) ready: bool,
    pub(crate) created_at: i64,
}

impl SandboxRecord {
    pub(crate) fn metadata(&self) -> PodSandboxMetadata {
        PodSandboxMetadata {
            name: self.name.clone(),
            uid: self.uid.clone(),
            namespace: self.namespace.clone(),
            attempt: self.attempt,
        }
    }

    pub(crate) fn state(&self) -> PodSandboxState {
        if self.ready {
            PodSandboxState::Ready
        } else {
            PodSandboxState::NotReady
        }
    }

    pub(crate) fn to_list_entry(&self) -> PodSandbox {
        PodSandbox {
            id: self.id.clone(),
            metadata: self.metadata(),
            state: self.state(),
            created_at: self.created_at,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
        }
    }

    pub(crate) fn to_status(&self) -> PodSandboxStatus {
        PodSandboxStatus {
            id: self.id.clone(),
            metadata: self.metadata(),
            state: self.state(),
            created_at: self.created_at,
            ip: self.ip.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RecordState {
    Created,
    Running,
    Exited,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub(crate) id: String,
    pub(crate) sandbox_id: String,
    pub(crate) name: String,
    pub(crate) attempt: u32,
    pub(crate) image: String,
    /// The resolved command line.
    pub(crate) argv: Vec<String>,
    pub(crate) envs: Vec<(String, String)>,
    pub(crate) working_dir: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) log_path: PathBuf,
    pub(crate) state: RecordState,
    pub(crate) created_at: i64,
    pub(crate) started_at: i64,
    pub(crate) finished_at: i64,
    pub(crate) exit_code: i32,
    pub(crate) reason: String,
    pub(crate) message: String,
    /// The process (and process group) ID while it runs.
    pub(crate) pid: Option<i32>,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat`
    /// field 22), to tell it from a later process with the same ID.
    pub(crate) start_ticks: Option<u64>,
    /// The directory standing for the container's root, where its mounts'
    /// container paths are symlinks (only when it has mounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) root: Option<PathBuf>,
}

impl ContainerRecord {
    pub(crate) fn cri_state(&self) -> ContainerState {
        match self.state {
            RecordState::Created => ContainerState::Created,
            RecordState::Running => ContainerState::Running,
            RecordState::Exited => ContainerState::Exited,
        }
    }

    fn metadata(&self) -> ContainerMetadata {
        ContainerMetadata { name: self.name.clone(), attempt: self.attempt }
    }

    pub(crate) fn to_list_entry(&self) -> Container {
        Container {
            id: self.id.clone(),
            pod_sandbox_id: self.sandbox_id.clone(),
            metadata: self.metadata(),
            image: ImageSpec { image: self.image.clone() },
            state: self.cri_state(),
            created_at: self.created_at,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
        }
    }

    pub(crate) fn to_status(&self) -> ContainerStatus {
        ContainerStatus {
            id: self.id.clone(),
            metadata: self.metadata(),
            state: self.cri_state(),
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            exit_code: self.exit_code,
            image: ImageSpec { image: self.image.clone() },
            reason: self.reason.clone(),
            message: self.message.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            log_path: self.log_path.display().to_string(),
        }
    }
}

/// Writes `value` to `dir/name.json` atomically (temp file, then rename).
pub(crate) fn save<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    let io = |e: std::io::Error| Error::State {
        path: dir.join(name).display().to_string(),
        reason: e.to_string(),
    };
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::State { path: name.into(), reason: e.to_string() })?;
    let tmp = dir.join(format!(".{name}.json.tmp"));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, dir.join(format!("{name}.json"))).map_err(io)
}

/// Removes `dir/name.json` if present.
pub(crate) fn forget(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(format!("{name}.json")));
}

/// Reads every `*.json` record in `dir`; unreadable files are reported and skipped.
pub(crate) fn load_all<T: for<'de> Deserialize<'de>>(dir: &Path) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json")
            && !entry.file_name().to_string_lossy().starts_with('.')
        {
            match std::fs::read(&path).map(|b| serde_json::from_slice::<T>(&b)) {
                Ok(Ok(v)) => out.push(v),
                other => {
                    tracing::warn!(path = %path.display(), error = ?other.err(), "skipping unreadable runtime state")
                }
            }
        }
    }
    out
}
