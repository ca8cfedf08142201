//! Conversions between orch's CRI-shaped types ([`crate::runtime`]) and the
//! CRI v1 protobuf messages of `k8s-cri`.

use std::collections::{BTreeMap, HashMap};

use k8s_cri::v1 as cri;

use crate::runtime::{
    Container, ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState,
    ContainerStatus, ExecSyncResponse, Image, ImageSpec, LinuxContainerResources, PodSandbox,
    PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata, PodSandboxState, PodSandboxStatus,
};

pub(super) fn map_in(m: &BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub(super) fn map_out(m: HashMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().collect()
}

pub(super) fn sandbox_metadata_in(m: &PodSandboxMetadata) -> cri::PodSandboxMetadata {
    cri::PodSandboxMetadata {
        name: m.name.clone(),
        uid: m.uid.clone(),
        namespace: m.namespace.clone(),
        attempt: m.attempt,
    }
}

fn sandbox_metadata_out(m: Option<cri::PodSandboxMetadata>) -> PodSandboxMetadata {
    let m = m.unwrap_or_default();
    PodSandboxMetadata { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt }
}

/// The sandbox config as sent: `host_network` selects the node's network
/// namespace (and then no hostname, which needs a private UTS namespace).
pub(super) fn sandbox_config_in(
    c: &PodSandboxConfig,
    host_network: bool,
    log_directory: &str,
) -> cri::PodSandboxConfig {
    let network = if host_network { cri::NamespaceMode::Node } else { cri::NamespaceMode::Pod };
    cri::PodSandboxConfig {
        metadata: Some(sandbox_metadata_in(&c.metadata)),
        hostname: if host_network { String::new() } else { c.hostname.clone() },
        log_directory: log_directory.to_owned(),
        labels: map_in(&c.labels),
        annotations: map_in(&c.annotations),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: network as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn sandbox_state_out(state: i32) -> PodSandboxState {
    if state == cri::PodSandboxState::SandboxReady as i32 {
        PodSandboxState::Ready
    } else {
        PodSandboxState::NotReady
    }
}

fn sandbox_state_in(state: PodSandboxState) -> cri::PodSandboxState {
    match state {
        PodSandboxState::Ready => cri::PodSandboxState::SandboxReady,
        PodSandboxState::NotReady => cri::PodSandboxState::SandboxNotready,
    }
}

pub(super) fn sandbox_out(s: cri::PodSandbox) -> PodSandbox {
    PodSandbox {
        id: s.id,
        metadata: sandbox_metadata_out(s.metadata),
        state: sandbox_state_out(s.state),
        created_at: s.created_at,
        labels: map_out(s.labels),
        annotations: map_out(s.annotations),
    }
}

pub(super) fn sandbox_status_out(s: cri::PodSandboxStatus) -> PodSandboxStatus {
    PodSandboxStatus {
        id: s.id,
        metadata: sandbox_metadata_out(s.metadata),
        state: sandbox_state_out(s.state),
        created_at: s.created_at,
        ip: s.network.map(|n| n.ip).unwrap_or_default(),
        labels: map_out(s.labels),
        annotations: map_out(s.annotations),
    }
}

pub(super) fn sandbox_filter_in(f: &PodSandboxFilter) -> cri::PodSandboxFilter {
    cri::PodSandboxFilter {
        id: f.id.clone().unwrap_or_default(),
        state: f.state.map(|s| cri::PodSandboxStateValue { state: sandbox_state_in(s) as i32 }),
        label_selector: map_in(&f.label_selector),
    }
}

pub(super) fn image_in(i: &ImageSpec) -> cri::ImageSpec {
    cri::ImageSpec { image: i.image.clone(), ..Default::default() }
}

fn image_out(i: Option<cri::ImageSpec>) -> ImageSpec {
    ImageSpec { image: i.map(|i| i.image).unwrap_or_default() }
}

fn resources_in(r: &LinuxContainerResources) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares,
        memory_limit_in_bytes: r.memory_limit_in_bytes,
        ..Default::default()
    }
}

pub(super) fn container_config_in(c: &ContainerConfig) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.metadata.name.clone(),
            attempt: c.metadata.attempt,
        }),
        image: Some(image_in(&c.image)),
        command: c.command.clone(),
        args: c.args.clone(),
        working_dir: c.working_dir.clone(),
        envs: c
            .envs
            .iter()
            .map(|(k, v)| cri::KeyValue { key: k.clone(), value: v.clone() })
            .collect(),
        labels: map_in(&c.labels),
        annotations: map_in(&c.annotations),
        log_path: c.log_path.clone(),
        mounts: c
            .mounts
            .iter()
            .map(|m| cri::Mount {
                container_path: m.container_path.clone(),
                host_path: m.host_path.clone(),
                readonly: m.readonly,
                ..Default::default()
            })
            .collect(),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(resources_in(&c.resources)),
            security_context: None,
        }),
        ..Default::default()
    }
}

fn container_metadata_out(m: Option<cri::ContainerMetadata>) -> ContainerMetadata {
    let m = m.unwrap_or_default();
    ContainerMetadata { name: m.name, attempt: m.attempt }
}

fn container_state_out(state: i32) -> ContainerState {
    match cri::ContainerState::try_from(state) {
        Ok(cri::ContainerState::ContainerCreated) => ContainerState::Created,
        Ok(cri::ContainerState::ContainerRunning) => ContainerState::Running,
        Ok(cri::ContainerState::ContainerExited) => ContainerState::Exited,
        _ => ContainerState::Unknown,
    }
}

fn container_state_in(state: ContainerState) -> cri::ContainerState {
    match state {
        ContainerState::Created => cri::ContainerState::ContainerCreated,
        ContainerState::Running => cri::ContainerState::ContainerRunning,
        ContainerState::Exited => cri::ContainerState::ContainerExited,
        ContainerState::Unknown => cri::ContainerState::ContainerUnknown,
    }
}

pub(super) fn container_out(c: cri::Container) -> Container {
    Container {
        id: c.id,
        pod_sandbox_id: c.pod_sandbox_id,
        metadata: container_metadata_out(c.metadata),
        image: image_out(c.image),
        state: container_state_out(c.state),
        created_at: c.created_at,
        labels: map_out(c.labels),
        annotations: map_out(c.annotations),
    }
}

pub(super) fn container_status_out(s: cri::ContainerStatus) -> ContainerStatus {
    ContainerStatus {
        id: s.id,
        metadata: container_metadata_out(s.metadata),
        state: container_state_out(s.state),
        created_at: s.created_at,
        started_at: s.started_at,
        finished_at: s.finished_at,
        exit_code: s.exit_code,
        image: image_out(s.image),
        reason: s.reason,
        message: s.message,
        labels: map_out(s.labels),
        annotations: map_out(s.annotations),
        log_path: s.log_path,
    }
}

pub(super) fn container_filter_in(f: &ContainerFilter) -> cri::ContainerFilter {
    cri::ContainerFilter {
        id: f.id.clone().unwrap_or_default(),
        state: f.state.map(|s| cri::ContainerStateValue { state: container_state_in(s) as i32 }),
        pod_sandbox_id: f.pod_sandbox_id.clone().unwrap_or_default(),
        label_selector: map_in(&f.label_selector),
    }
}

pub(super) fn exec_out(r: cri::ExecSyncResponse) -> ExecSyncResponse {
    ExecSyncResponse { stdout: r.stdout, stderr: r.stderr, exit_code: r.exit_code }
}

pub(super) fn image_info_out(i: cri::Image) -> Image {
    Image { id: i.id, repo_tags: i.repo_tags, size: i.size }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_network_sandboxes_use_the_node_namespace_and_no_hostname() {
        let config = PodSandboxConfig { hostname: "web-0".into(), ..Default::default() };
        let host = sandbox_config_in(&config, true, "/var/log/pods/x");
        let ns = host.linux.unwrap().security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.network, cri::NamespaceMode::Node as i32);
        assert_eq!(host.hostname, "");
        assert_eq!(host.log_directory, "/var/log/pods/x");
        let pod = sandbox_config_in(&config, false, "");
        let ns = pod.linux.unwrap().security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.network, cri::NamespaceMode::Pod as i32);
        assert_eq!(pod.hostname, "web-0");
    }

    #[test]
    fn states_round_trip() {
        for s in [
            ContainerState::Created,
            ContainerState::Running,
            ContainerState::Exited,
            ContainerState::Unknown,
        ] {
            assert_eq!(container_state_out(container_state_in(s) as i32), s);
        }
        for s in [PodSandboxState::Ready, PodSandboxState::NotReady] {
            assert_eq!(sandbox_state_out(sandbox_state_in(s) as i32), s);
        }
    }
}
