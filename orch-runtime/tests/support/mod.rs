//! What the runtime tests share.
#![allow(dead_code)]

// Not every test binary that includes this module uses it.
#[allow(unused_imports)]
pub use orch_runtime::conformance::sandbox_config;

/// Limits of a running container's cgroup, read inside it with ExecSync:
/// (memory limit, cpu quota, cpu period, cpu shares — `None` on cgroup v2,
/// whose cpu.weight is not the kubelet's shares).
pub async fn cgroup_limits(
    rt: &dyn orch_runtime::runtime::Runtime,
    id: &str,
) -> (String, String, String, Option<String>) {
    let read = |file: String| async move {
        let cmd = vec!["cat".to_string(), format!("/sys/fs/cgroup/{file}")];
        let r = rt.exec_sync(id, &cmd, std::time::Duration::from_secs(10)).await.unwrap();
        assert_eq!(r.exit_code, 0, "{file}: {}", String::from_utf8_lossy(&r.stderr));
        String::from_utf8_lossy(&r.stdout).trim().to_owned()
    };
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let cpu = read("cpu.max".into()).await;
        let (quota, period) = cpu.split_once(' ').unwrap_or((&cpu, ""));
        (read("memory.max".into()).await, quota.to_owned(), period.to_owned(), None)
    } else {
        (
            read("memory/memory.limit_in_bytes".into()).await,
            read("cpu/cpu.cfs_quota_us".into()).await,
            read("cpu/cpu.cfs_period_us".into()).await,
            Some(read("cpu/cpu.shares".into()).await),
        )
    }
}

#[cfg(feature = "cri")]
pub mod registry;
