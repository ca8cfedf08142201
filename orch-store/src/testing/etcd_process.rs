//! [`EtcdProcess`]: etcd — one member or a cluster — started as child
//! processes on free loopback ports — for running the conformance suite, benchmarks or a
//! development control plane against a real etcd.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orch_core::store::{KeyRange, RangeRequest, Store};
use orch_core::{Error, Result};

use super::free_loopback_port;
use crate::EtcdStore;

/// How long [`EtcdProcess::start`] waits for etcd to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one try to read from a starting member may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How many times [`EtcdProcess::start_cluster`] starts the members on
/// fresh ports when one finds its port taken.
const PORT_ATTEMPTS: usize = 5;

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
    /// Ports are picked with [`free_loopback_port`]; should another process
    /// take one before etcd binds it, etcd is started again on fresh ports
    /// (up to 5 times).
    ///
    /// Errors: [`Error::Unavailable`] if etcd cannot be started, exits, or
    /// does not answer within 30 s (with its log).
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
        let dir = match parent {
            Some(p) => tempfile::tempdir_in(p),
            None => tempfile::tempdir(),
        }
        .map_err(|e| unavailable("etcd data dir", e))?;
        let mut etcd = EtcdProcess { children: Vec::new(), dir, endpoints: Vec::new() };
        let mut attempt = 1;
        loop {
            etcd.spawn_members(members)?;
            match etcd.wait_until_serving().await {
                Err(Start::AddressInUse(_)) if attempt < PORT_ATTEMPTS => {
                    etcd.stop_members()?;
                    attempt += 1;
                }
                Err(Start::AddressInUse(e) | Start::Failed(e)) => return Err(e),
                Ok(()) => return Ok(etcd),
            }
        }
    }

    /// Starts `members` etcd processes on fresh ports, with fresh data
    /// directories, forming one new cluster.
    fn spawn_members(&mut self, members: usize) -> Result<()> {
        let mut ports = Vec::new();
        for _ in 0..members {
            ports.push((free_loopback_port()?, free_loopback_port()?));
        }
        let initial_cluster: Vec<String> =
            (0..members).map(|i| format!("orch{i}=http://127.0.0.1:{}", ports[i].1)).collect();
        let initial_cluster = initial_cluster.join(",");
        for (i, (client, peer)) in ports.into_iter().enumerate() {
            let endpoint = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log =
                std::fs::File::create(self.log_path(i)).map_err(|e| unavailable("etcd log", e))?;
            let child = Command::new("etcd")
                .args(["--name", &format!("orch{i}"), "--data-dir"])
                .arg(self.data_dir(i))
                .args(["--listen-client-urls", &endpoint, "--advertise-client-urls", &endpoint])
                .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial_cluster, "--initial-cluster-state", "new"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| unavailable("cannot start etcd (install etcd-server)", e))?;
            self.children.push(child);
            self.endpoints.push(endpoint);
        }
        Ok(())
    }

    /// Waits until every member answers a read, or one has exited, or
    /// [`START_TIMEOUT`] has passed.
    async fn wait_until_serving(&mut self) -> std::result::Result<(), Start> {
        let start = Instant::now();
        for i in 0..self.endpoints.len() {
            loop {
                // A port another process listens on may take a connection
                // and never answer: each try has its own deadline.
                let answered = tokio::time::timeout(CONNECT_TIMEOUT, connect(&self.endpoints[i]));
                if matches!(answered.await, Ok(Ok(_))) {
                    break;
                }
                for member in 0..self.children.len() {
                    if let Ok(Some(status)) = self.children[member].try_wait() {
                        let log = self.log(member);
                        let e = Error::Unavailable(format!(
                            "etcd member {member} exited at start ({status}); its log:\n{log}"
                        ));
                        return Err(if log.contains("address already in use") {
                            Start::AddressInUse(e)
                        } else {
                            Start::Failed(e)
                        });
                    }
                }
                if start.elapsed() > START_TIMEOUT {
                    return Err(Start::Failed(Error::Unavailable(format!(
                        "etcd at {} did not answer within {START_TIMEOUT:?}; its log:\n{}",
                        self.endpoints[i],
                        self.log(i)
                    ))));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Kills every member and removes their data, for a fresh start.
    fn stop_members(&mut self) -> Result<()> {
        let members = self.children.len();
        self.kill_members();
        self.endpoints.clear();
        for i in 0..members {
            match std::fs::remove_dir_all(self.data_dir(i)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(unavailable("etcd data dir", e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn kill_members(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self, member: usize) -> String {
        std::fs::read_to_string(self.log_path(member)).unwrap_or_default()
    }

    fn data_dir(&self, member: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("data-{member}"))
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
        self.kill_members();
    }
}

/// Why a start of the members failed.
enum Start {
    /// A member could not listen on its port: another process took it
    /// after it was picked. Starting again on fresh ports helps.
    AddressInUse(Error),
    /// Anything else.
    Failed(Error),
}

fn unavailable(what: &str, e: std::io::Error) -> Error {
    Error::Unavailable(format!("{what}: {e}"))
}
