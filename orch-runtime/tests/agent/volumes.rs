//! Volumes as the kubelet keeps them: a `configMap` volume's files change
//! in place when the ConfigMap does, with no restart; `secret` volumes with
//! `items` and `defaultMode`; a missing source holds the pod in
//! `ContainerCreating` with a `FailedMount` Event, an optional one mounts
//! empty; everything goes with the pod.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use orch_core::kinds::pod::{
    ConfigMapVolumeSource, Container, KeyToPath, SecretVolumeSource, Volume, VolumeMount,
};
use orch_core::testing::{wait_for, wait_until};
use orch_core::{Api, ByteString, ConfigMap, ObjectMeta, Pod, Secret};
use orch_runtime::runtime::ContainerFilter;

use crate::{bound_pod, Node1, DEADLINE};

fn config_map_volume(name: &str, config_map: &str, optional: Option<bool>) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.into(),
            optional,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), ..Default::default() }
}

fn pod_with(name: &str, container: Container, volumes: Vec<Volume>) -> Pod {
    let mut p = bound_pod(name, vec![container]);
    p.spec.volumes = volumes;
    p
}

impl Node1 {
    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.store.clone(), "default")
    }

    /// The ID of the pod's (only) container, once it has one.
    async fn container_id(&self, pod: &str) -> Option<String> {
        let filter = ContainerFilter {
            label_selector: BTreeMap::from([(
                orch_runtime::agent::LABEL_POD_NAME.to_string(),
                pod.to_string(),
            )]),
            ..Default::default()
        };
        self.runtime.list_containers(&filter).await.unwrap().first().map(|c| c.id.clone())
    }

    /// The output of `sh -c script` run in the pod's container.
    async fn exec(&self, pod: &str, script: &str) -> String {
        let id = self.container_id(pod).await.expect("the pod has a container");
        let cmd = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let r = self.runtime.exec_sync(&id, &cmd, Duration::from_secs(10)).await.unwrap();
        assert_eq!(r.exit_code, 0, "{script}: {}", String::from_utf8_lossy(&r.stderr));
        String::from_utf8_lossy(&r.stdout).into_owned()
    }

    /// The container's log so far.
    async fn log(&self, pod: &str) -> String {
        let Some(id) = self.container_id(pod).await else { return String::new() };
        let path = self.runtime.container_status(&id).await.unwrap().log_path;
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Where the agent keeps the pod's volumes.
    async fn volumes_dir(&self, pod: &str) -> PathBuf {
        let uid = self.pod(pod).await.metadata.uid;
        self.config.root_dir.join("pods").join(uid)
    }
}

on_both_runtimes!(a_config_map_volume_is_updated_in_place_without_a_restart, config_map_case);

async fn config_map_case(n: Node1) {
    let mut cm = ConfigMap { metadata: ObjectMeta::named("app-cfg"), ..Default::default() };
    cm.data.insert("greeting".into(), "hello".into());
    n.config_maps().create(&cm).await.unwrap();
    // `${ORCH_ROOT}` is the process runtime's root for mounts, unset (so
    // empty) in a real container: the same script runs on both.
    let mut c = n.sh(
        "reader",
        "trap 'exit 0' TERM; while true; do echo \"seen=$(cat ${ORCH_ROOT}/etc/config/greeting)\"; sleep 1 & wait; done",
    );
    c.volume_mounts = vec![mount("cfg", "/etc/config")];
    let pod = pod_with("reader", c, vec![config_map_volume("cfg", "app-cfg", None)]);
    n.pods().create(&pod).await.unwrap();
    n.running_and_ready("reader").await;
    wait_until("the container logs the ConfigMap's value", DEADLINE, || async {
        n.log("reader").await.contains("seen=hello")
    })
    .await;
    let first = n.container_id("reader").await;

    // The node's layout, as the kubelet's.
    let volume = n.volumes_dir("reader").await.join("volumes/kubernetes.io~configmap/cfg");
    let data = std::fs::read_link(volume.join("..data")).unwrap();
    assert!(data.to_string_lossy().starts_with("..20"), "{data:?}");
    assert_eq!(
        std::fs::read_link(volume.join("greeting")).unwrap(),
        PathBuf::from("..data/greeting")
    );

    let mut changed = n.config_maps().get("app-cfg").await.unwrap();
    changed.data.insert("greeting".into(), "bonjour".into());
    changed.data.insert("added".into(), "new key".into());
    n.config_maps().replace(&changed).await.unwrap();
    wait_until("the running container logs the new value", DEADLINE, || async {
        n.log("reader").await.contains("seen=bonjour")
    })
    .await;
    assert_eq!(n.exec("reader", "cat ${ORCH_ROOT}/etc/config/added").await, "new key");
    assert_ne!(std::fs::read_link(volume.join("..data")).unwrap(), data, "..data was swapped");
    assert!(!volume.join(&data).exists(), "the old timestamped dir is removed");
    let status = n.pod("reader").await.status.unwrap();
    assert_eq!(status.container_statuses[0].restart_count, 0, "updated without a restart");
    assert_eq!(n.container_id("reader").await, first, "the same container");

    let dir = n.volumes_dir("reader").await;
    n.delete_all_and_check_no_leftovers().await;
    assert!(!dir.exists(), "the pod's volumes go with it");
}

on_both_runtimes!(a_secret_volume_projects_items_with_their_modes, secret_case);

async fn secret_case(n: Node1) {
    let mut s = Secret { metadata: ObjectMeta::named("db"), ..Default::default() };
    s.data.insert("password".into(), ByteString(b"hunter2".to_vec()));
    s.data.insert("user".into(), ByteString(b"admin".to_vec()));
    s.data.insert("cert".into(), ByteString(vec![0, 1, 254, 255]));
    Api::<Secret>::namespaced(n.store.clone(), "default").create(&s).await.unwrap();
    let volume = Volume {
        name: "creds".into(),
        secret: Some(SecretVolumeSource {
            secret_name: "db".into(),
            items: vec![
                KeyToPath { key: "password".into(), path: "auth/pw".into(), mode: Some(0o400) },
                KeyToPath { key: "user".into(), path: "user".into(), mode: None },
                KeyToPath { key: "cert".into(), path: "tls.bin".into(), mode: None },
            ],
            default_mode: Some(0o440),
            optional: None,
        }),
        ..Default::default()
    };
    let mut c = n.sh("app", "trap 'exit 0' TERM; sleep 60 & wait");
    c.volume_mounts = vec![mount("creds", "/etc/creds")];
    n.pods().create(&pod_with("app", c, vec![volume])).await.unwrap();
    n.running_and_ready("app").await;
    let seen =
        n.exec("app", "cd ${ORCH_ROOT}/etc/creds && cat auth/pw; echo; cat user; echo; ls").await;
    assert_eq!(seen, "hunter2\nadmin\nauth\ntls.bin\nuser\n", "only the items, at their paths");
    // Modes and bytes, from the node.
    let dir = n.volumes_dir("app").await.join("volumes/kubernetes.io~secret/creds");
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("auth/pw"), mode("user"), mode("tls.bin")), (0o400, 0o440, 0o440));
    assert_eq!(std::fs::read(dir.join("tls.bin")).unwrap(), [0, 1, 254, 255]);
    n.delete_all_and_check_no_leftovers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_holds_the_pod_in_container_creating_until_it_exists() {
    let n = Node1::start().await;
    let mut c = crate::sh("app", "trap 'exit 0' TERM; sleep 60 & wait");
    c.volume_mounts = vec![mount("cfg", "/etc/config"), mount("maybe", "/etc/maybe")];
    let volumes = vec![
        config_map_volume("cfg", "later", None),
        config_map_volume("maybe", "never", Some(true)),
    ];
    n.pods().create(&pod_with("waits", c, volumes)).await.unwrap();
    wait_for("a FailedMount Event", DEADLINE, || async {
        let events = n.event_messages("FailedMount").await;
        let want =
            "waits: MountVolume.SetUp failed for volume \"cfg\" : configmap \"later\" not found";
        if events.iter().any(|e| e == want) {
            Ok(())
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;
    // The status write may follow the Event.
    wait_for("the pod's container reported ContainerCreating", DEADLINE, || async {
        let p = n.pod("waits").await;
        let waiting = p.status.and_then(|s| s.container_statuses.first()?.state.clone()?.waiting);
        match waiting.and_then(|w| w.reason) {
            Some(r) if r == "ContainerCreating" => Ok(()),
            other => Err(format!("waiting reason {other:?}")),
        }
    })
    .await;
    assert!(n.container_id("waits").await.is_none(), "no container before its volumes");
    // Once it exists the pod starts; the optional volume is there, empty.
    let mut cm = ConfigMap { metadata: ObjectMeta::named("later"), ..Default::default() };
    cm.data.insert("k".into(), "v".into());
    n.config_maps().create(&cm).await.unwrap();
    n.running_and_ready("waits").await;
    assert_eq!(
        n.exec(
            "waits",
            "cat $ORCH_ROOT/etc/config/k; ls -A $ORCH_ROOT/etc/maybe/ | grep -v '^\\.\\.'; true"
        )
        .await,
        "v"
    );
    let events = n.event_messages("FailedMount").await;
    assert_eq!(events.len(), 1, "recorded once: {events:?}");

    // A subPath of a configMap volume is refused (Kubernetes never updates it).
    let mut sub = crate::sh("sub", "sleep 60");
    sub.volume_mounts = vec![VolumeMount { sub_path: Some("k".into()), ..mount("cfg", "/etc/k") }];
    n.pods()
        .create(&pod_with("sub", sub, vec![config_map_volume("cfg", "later", None)]))
        .await
        .unwrap();
    wait_for("CreateContainerConfigError", DEADLINE, || async {
        let p = n.pod("sub").await;
        let w = p.status.and_then(|s| s.container_statuses.first()?.state.clone()?.waiting);
        match w {
            Some(w) if w.reason.as_deref() == Some("CreateContainerConfigError") => {
                assert!(w.message.unwrap_or_default().contains("subPath"));
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    n.delete_all_and_check_no_leftovers().await;
}
