//! A Docker registry (Debian's `docker-registry`, distribution 2.8) on a
//! loopback port for the pull tests: plain HTTP, htpasswd login, storage in
//! a temp dir; killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    child: Child,
}

impl Registry {
    /// Starts a registry under `dir` that lets in `user` with `password`,
    /// on a port from `orch_store::testing::free_loopback_port` (a fresh one, up to 5
    /// times, when another process took the port first). Panics, saying
    /// why, if it cannot start.
    pub fn start(dir: &Path, user: &str, password: &str) -> Registry {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let hash = bcrypt::hash(password, 5).unwrap();
        std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
        let mut attempt = 1;
        loop {
            match Self::start_on_free_port(dir) {
                Ok(registry) => return registry,
                Err(log) if log.contains("address already in use") && attempt < 5 => attempt += 1,
                Err(log) => panic!("docker-registry exited at start:\n{log}"),
            }
        }
    }

    /// The registry, or its log if it exited before listening.
    fn start_on_free_port(dir: &Path) -> Result<Registry, String> {
        let port = orch_store::testing::free_loopback_port().unwrap_or_else(|e| panic!("{e}"));
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {data}\nhttp:\n  addr: {host}\n  secret: orch-test\nauth:\n  htpasswd:\n    realm: orch\n    path: {htpasswd}\n",
            data = dir.join("data").display(),
            htpasswd = dir.join("htpasswd").display(),
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run docker-registry (apt install docker-registry): {e}")
            });
        let mut registry = Registry { host, child };
        let start = Instant::now();
        while std::net::TcpStream::connect(&registry.host).is_err() {
            if let Ok(Some(status)) = registry.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
                return Err(format!("({status}) {log}"));
            }
            assert!(start.elapsed() < Duration::from_secs(20), "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
