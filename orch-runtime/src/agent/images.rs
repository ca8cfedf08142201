//! Images for the node agent, as the kubelet's image manager: the
//! `imagePullPolicy` (and its default), which registry credentials go with
//! an image, and the back-off between failed pulls.

use std::time::Duration;

use orch_core::kinds::pod::Container;

use crate::runtime::AuthConfig;

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
