//! [`EtcdProcess`]: etcd — one member or a cluster — started as child
//! processes on free loopback ports — for running the conformance suite, benchmarks or a
//! development control plane against a real etcd.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orch_core::store::{KeyRange, RangeRequest, Store};
use orch_core::{Error, Result};

use crate::EtcdStore;

/// How long [`EtcdProcess::start`] waits for etcd to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running etcd — one member, or a cluster of several processes on
/// loopback (`etcd` from the PATH, e.g. Debian's `etcd-server`) — with its
/// data directories in a fresh temporary directory. Dropping it kills
/// every member and removes the data.
pub struct EtcdProcess {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    endpoints: Vec<String>,
}

impl EtcdProcess {
    /// Starts a single-member etcd with its data under `parent` (a fresh
    /// temporary directory there; the system's temp dir if `None`) and
    /// waits until it answers a read. etcd's log goes to `etcd.log` in
    /// that directory.
    ///
    /// Errors: [`Error::Unavailable`] if etcd cannot be started or does not
    /// answer within 30 s (with its log).
    pub async fn start(parent: Option<&Path>) -> Result<EtcdProcess> {
        Self::start_cluster(1, parent).await
    }

    /// As [`start`](Self::start), with `members` etcd processes forming one
    /// cluster (`--initial-cluster-state new`); each logs to
    /// `etcd-<i>.log`. Waits until every member answers a linearizable
    /// read (so a leader is elected).
    ///
    /// Errors: as `start`; `InvalidRequest` for 0 members.
    pub async fn start_cluster(members: usize, parent: Option<&Path>) -> Result<EtcdProcess> {
        if members == 0 {
            return Err(Error::InvalidRequest("an etcd cluster needs a member".into()));
        }
        let unavailable =
            |what: &str, e: std::io::Error| Error::Unavailable(format!("{what}: {e}"));
        let dir = match parent {
            Some(p) => tempfile::tempdir_in(p),
            None => tempfile::tempdir(),
        }
        .map_err(|e| unavailable("etcd data dir", e))?;
        let mut ports = Vec::new();
        for _ in 0..members {
            ports.push((free_port()?, free_port()?));
        }
        let initial_cluster: Vec<String> =
            (0..members).map(|i| format!("orch{i}=http://127.0.0.1:{}", ports[i].1)).collect();
        let initial_cluster = initial_cluster.join(",");
        let mut etcd = EtcdProcess { children: Vec::new(), dir, endpoints: Vec::new() };
        for (i, (client, peer)) in ports.into_iter().enumerate() {
            let endpoint = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log =
                std::fs::File::create(etcd.log_path(i)).map_err(|e| unavailable("etcd log", e))?;
            let child = Command::new("etcd")
                .args(["--name", &format!("orch{i}"), "--data-dir"])
                .arg(etcd.dir.path().join(format!("data-{i}")))
                .args(["--listen-client-urls", &endpoint, "--advertise-client-urls", &endpoint])
                .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial_cluster, "--initial-cluster-state", "new"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| unavailable("cannot start etcd (install etcd-server)", e))?;
            etcd.children.push(child);
            etcd.endpoints.push(endpoint);
        }
        let start = Instant::now();
        for (i, endpoint) in etcd.endpoints.iter().enumerate() {
            loop {
                if connect(endpoint).await.is_ok() {
                    break;
                }
                if start.elapsed() > START_TIMEOUT {
                    let log = std::fs::read_to_string(etcd.log_path(i)).unwrap_or_default();
                    return Err(Error::Unavailable(format!(
                        "etcd at {endpoint} did not answer within {START_TIMEOUT:?}; its log:\n{log}"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(etcd)
    }

    fn log_path(&self, member: usize) -> std::path::PathBuf {
        let name = if member == 0 { "etcd.log".into() } else { format!("etcd-{member}.log") };
        self.dir.path().join(name)
    }

    /// The first member's client URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[0]
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A store client for this etcd (all members' endpoints), checked with
    /// a read.
    ///
    /// Errors: [`Error::Unavailable`] if etcd does not answer.
    pub async fn connect(&self) -> Result<EtcdStore> {
        let store = EtcdStore::connect(&self.endpoints).await?;
        store.range(RangeRequest::new(KeyRange::key("/ping"))).await?;
        Ok(store)
    }
}

/// A client for one endpoint, checked with a read.
async fn connect(endpoint: &str) -> Result<EtcdStore> {
    let store = EtcdStore::connect(&[endpoint.to_string()]).await?;
    store.range(RangeRequest::new(KeyRange::key("/ping"))).await?;
    Ok(store)
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Unavailable(format!("no free loopback port: {e}")))
}
