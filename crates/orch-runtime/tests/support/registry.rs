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
    /// Starts a registry under `dir` that lets in `user` with `password`.
    /// Panics, saying why, if it cannot start.
    pub fn start(dir: &Path, user: &str, password: &str) -> Registry {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let hash = bcrypt::hash(password, 5).unwrap();
        std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
                panic!("docker-registry exited at start ({status}):\n{log}");
            }
            assert!(start.elapsed() < Duration::from_secs(20), "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
