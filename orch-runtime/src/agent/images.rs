//! Images for the node agent, as the kubelet's image manager: the
//! `imagePullPolicy` (and its default), which registry credentials go with
//! an image, the back-off between failed pulls, and the images the Node's
//! status reports.

use std::time::Duration;

use orch_core::kinds::node::ContainerImage;
use orch_core::kinds::pod::Container;

use crate::runtime::{AuthConfig, Image};

/// Most images a Node's status lists (the kubelet's `--node-status-max-images`
/// default).
pub const NODE_STATUS_MAX_IMAGES: usize = 50;

/// The runtime's images as a Node's `status.images`, as the kubelet reports
/// them: largest first (ties by name), at most [`NODE_STATUS_MAX_IMAGES`],
/// each named by its tags (its ID if it has none); sizes in bytes. The
/// scheduler's ImageLocality plugin scores nodes on these.
pub fn node_images(images: &[Image]) -> Vec<ContainerImage> {
    let mut listed: Vec<ContainerImage> = images
        .iter()
        .map(|i| ContainerImage {
            names: if i.repo_tags.is_empty() { vec![i.id.clone()] } else { i.repo_tags.clone() },
            size_bytes: i64::try_from(i.size).unwrap_or(i64::MAX),
        })
        .collect();
    listed.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then_with(|| a.names.cmp(&b.names)));
    listed.truncate(NODE_STATUS_MAX_IMAGES);
    listed
}

/// Kubernetes' `imagePullPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull before every container start.
    Always,
    /// Pull only if the image is not on the node.
    IfNotPresent,
    /// Never pull: the image must be on the node (`ErrImageNeverPull`).
    Never,
}

impl PullPolicy {
    /// The container's policy; as Kubernetes' defaulting when unset:
    /// `Always` for a `:latest` or untagged image (without a digest),
    /// `IfNotPresent` otherwise.
    pub fn of(container: &Container) -> PullPolicy {
        match container.image_pull_policy.as_deref() {
            Some("Always") => PullPolicy::Always,
            Some("IfNotPresent") => PullPolicy::IfNotPresent,
            Some("Never") => PullPolicy::Never,
            _ => {
                let image = container.image.as_str();
                let last = image.rsplit('/').next().unwrap_or(image);
                let tag = last.split_once(':').map(|(_, t)| t);
                if !image.contains('@') && matches!(tag, None | Some("latest")) {
                    PullPolicy::Always
                } else {
                    PullPolicy::IfNotPresent
                }
            }
        }
    }
}

/// The registry host of an image reference, as Docker resolves it: the
/// first path component if it looks like a host (has `.` or `:`, or is
/// `localhost`), else `docker.io`.
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// The credentials for `image` among `credentials`: the one whose
/// `server_address` (scheme and trailing `/` ignored) is the image's
/// registry host.
pub fn credentials_for<'a>(credentials: &'a [AuthConfig], image: &str) -> Option<&'a AuthConfig> {
    let host = registry_host(image);
    credentials.iter().find(|c| {
        let server = c.server_address.trim_start_matches("https://").trim_start_matches("http://");
        let server = server.trim_end_matches('/');
        server == host || (host == "docker.io" && server == "index.docker.io")
    })
}

/// Delay before the next pull after `failures` failed ones: `initial`,
/// doubling, at most `max` (the kubelet's image back-off: 10 s to 300 s).
pub fn pull_backoff(failures: u32, initial: Duration, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    initial.saturating_mul(1 << exp).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(image: &str, policy: Option<&str>) -> Container {
        Container {
            image: image.into(),
            image_pull_policy: policy.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn the_default_policy_follows_kubernetes() {
        assert_eq!(PullPolicy::of(&container("busybox", None)), PullPolicy::Always);
        assert_eq!(PullPolicy::of(&container("busybox:latest", None)), PullPolicy::Always);
        assert_eq!(
            PullPolicy::of(&container("localhost:5000/busybox", None)),
            PullPolicy::Always,
            "the port is not a tag"
        );
        assert_eq!(PullPolicy::of(&container("busybox:1.36", None)), PullPolicy::IfNotPresent);
        assert_eq!(
            PullPolicy::of(&container("busybox@sha256:abc", None)),
            PullPolicy::IfNotPresent
        );
        assert_eq!(PullPolicy::of(&container("busybox", Some("Never"))), PullPolicy::Never);
        assert_eq!(
            PullPolicy::of(&container("busybox:latest", Some("IfNotPresent"))),
            PullPolicy::IfNotPresent
        );
    }

    #[test]
    fn credentials_are_chosen_by_registry_host() {
        let creds = vec![
            AuthConfig {
                username: "a".into(),
                password: "p".into(),
                server_address: "https://registry.example.com/".into(),
            },
            AuthConfig {
                username: "b".into(),
                password: "p".into(),
                server_address: "localhost:5000".into(),
            },
            AuthConfig {
                username: "hub".into(),
                password: "p".into(),
                server_address: "index.docker.io".into(),
            },
        ];
        let user = |image| credentials_for(&creds, image).map(|c| c.username.as_str());
        assert_eq!(user("registry.example.com/team/app:1"), Some("a"));
        assert_eq!(user("localhost:5000/busybox"), Some("b"));
        assert_eq!(user("library/busybox"), Some("hub"));
        assert_eq!(user("busybox"), Some("hub"));
        assert_eq!(user("other.example.com/app"), None);
        assert_eq!(registry_host("localhost/busybox:latest"), "localhost");
    }

    #[test]
    fn pull_backoff_doubles_up_to_the_cap() {
        let (i, m) = (Duration::from_secs(10), Duration::from_secs(300));
        assert_eq!(pull_backoff(1, i, m), Duration::from_secs(10));
        assert_eq!(pull_backoff(2, i, m), Duration::from_secs(20));
        assert_eq!(pull_backoff(6, i, m), Duration::from_secs(300));
        assert_eq!(pull_backoff(60, i, m), Duration::from_secs(300));
    }
}

#[cfg(test)]
mod node_image_tests {
    use super::*;

    fn image(id: &str, tags: &[&str], size: u64) -> Image {
        Image { id: id.into(), repo_tags: tags.iter().map(|t| t.to_string()).collect(), size }
    }

    #[test]
    fn largest_first_named_by_tags_or_id() {
        let listed = node_images(&[
            image("sha256:a", &["small:1"], 10),
            image("sha256:b", &[], 30),
            image("sha256:c", &["big:1", "big:latest"], 20),
        ]);
        let names: Vec<&[String]> = listed.iter().map(|i| &i.names[..]).collect();
        assert_eq!(
            names,
            [
                &["sha256:b".to_string()][..],
                &["big:1".into(), "big:latest".into()],
                &["small:1".into()]
            ]
        );
        assert_eq!(listed.iter().map(|i| i.size_bytes).collect::<Vec<_>>(), [30, 20, 10]);
    }

    #[test]
    fn at_most_the_kubelets_fifty() {
        let many: Vec<Image> = (0..80).map(|i| image(&format!("id{i}"), &[], i)).collect();
        let listed = node_images(&many);
        assert_eq!(listed.len(), NODE_STATUS_MAX_IMAGES);
        assert_eq!(listed[0].size_bytes, 79, "the largest are kept");
    }
}
