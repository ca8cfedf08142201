//! The real kubectl against a running cluster example's API server, with
//! the kubeconfig the example wrote and a cache of its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::running::RunningExample;

/// The cluster example serving the Kubernetes API on a free port (with
/// `extra` arguments), once it says where, and kubectl pointed at it: the
/// kubeconfig and kubectl's cache in `dir`.
pub async fn cluster_with_api(dir: &Path, extra: &[&str]) -> (RunningExample, Kubectl) {
    let kubeconfig = dir.join("kubeconfig");
    let mut args = vec!["--serve-api", "127.0.0.1:0", "--kubeconfig-out"];
    let path = kubeconfig.to_string_lossy().into_owned();
    args.push(&path);
    args.extend_from_slice(extra);
    let cluster = RunningExample::start("cluster", &args);
    cluster
        .line_where("the example to say where it serves the Kubernetes API", |line| {
            line.starts_with("Kubernetes API on ").then_some(())
        })
        .await;
    (cluster, Kubectl { kubeconfig, cache: dir.join("cache") })
}

/// kubectl with one kubeconfig and cache directory.
pub struct Kubectl {
    /// The kubeconfig the example wrote (`--kubeconfig-out`).
    pub kubeconfig: PathBuf,
    /// kubectl's discovery and OpenAPI cache.
    pub cache: PathBuf,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(&self.cache).args(args);
        c
    }

    /// stdout of `kubectl args…`, or stdout and stderr if it failed.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(args)
            .output()
            .map_err(|e| format!("cannot run kubectl (install kubernetes-client): {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// stdout of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args).unwrap_or_else(|e| panic!("kubectl {}: {e}", args.join(" ")))
    }

    /// The first `n` lines a streaming command (`get -w`, `logs -f`)
    /// prints; the command is killed after them. A command that ends
    /// before printing them (kubectl gives up after 60 s of silence) panics
    /// with what it printed.
    pub fn first_lines(&self, args: &[&str], n: usize) -> Vec<String> {
        let mut bounded = vec!["--request-timeout=60s"];
        bounded.extend_from_slice(args);
        let mut child: Child = self
            .command(&bounded)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines: Vec<String> =
            BufReader::new(stdout).lines().map_while(Result::ok).take(n).collect();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(lines.len(), n, "kubectl {} ended after {lines:?}", args.join(" "));
        lines
    }
}
