//! [`EtcdProcess`]: a single-member etcd started as a child process on free
//! loopback ports — for running the conformance suite, benchmarks or a
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

/// A running single-member etcd (`etcd` from the PATH, e.g. Debian's
/// `etcd-server`), with its data directory in a fresh temporary directory.
/// Dropping it kills etcd and removes the data.
pub struct EtcdProcess {
    child: Child,
    dir: tempfile::TempDir,
    endpoint: String,
}

impl EtcdProcess {
    /// Starts etcd with its data under `parent` (a fresh temporary directory
    /// there; the system's temp dir if `None`) and waits until it answers
    /// a read. etcd's log goes to `etcd.log` in that directory.
    ///
    /// Errors: [`Error::Unavailable`] if etcd cannot be started or does not
    /// answer within 30 s (with its log).
    pub async fn start(parent: Option<&Path>) -> Result<EtcdProcess> {
        let unavailable =
            |what: &str, e: std::io::Error| Error::Unavailable(format!("{what}: {e}"));
        let dir = match parent {
            Some(p) => tempfile::tempdir_in(p),
            None => tempfile::tempdir(),
        }
        .map_err(|e| unavailable("etcd data dir", e))?;
        let (client, peer) = (free_port()?, free_port()?);
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log"))
            .map_err(|e| unavailable("etcd log", e))?;
        let child = Command::new("etcd")
            .args(["--name", "orch", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &endpoint, "--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("orch={peer_url}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| unavailable("cannot start etcd (install etcd-server)", e))?;
        let etcd = EtcdProcess { child, dir, endpoint };
        let start = Instant::now();
        loop {
            if etcd.connect().await.is_ok() {
                return Ok(etcd);
            }
            if start.elapsed() > START_TIMEOUT {
                let log =
                    std::fs::read_to_string(etcd.dir.path().join("etcd.log")).unwrap_or_default();
                return Err(Error::Unavailable(format!(
                    "etcd at {} did not answer within {START_TIMEOUT:?}; its log:\n{log}",
                    etcd.endpoint
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The client URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A store client for this etcd, checked with a read.
    ///
    /// Errors: [`Error::Unavailable`] if etcd does not answer.
    pub async fn connect(&self) -> Result<EtcdStore> {
        let store = EtcdStore::connect(std::slice::from_ref(&self.endpoint)).await?;
        store.range(RangeRequest::new(KeyRange::key("/ping"))).await?;
        Ok(store)
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Unavailable(format!("no free loopback port: {e}")))
}
