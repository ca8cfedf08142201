//! A tiny HTTP server for demos and tests (the `orch-web` binary, and the
//! cluster example's `myapp` image): `GET /` answers `<pod name> <version>`,
//! `GET /healthz` answers 200 (500 while the file named by
//! `$UNHEALTHY_FILE` exists). It listens on `$POD_IP:$PORT` (defaults
//! 127.0.0.1:8080; `--port N` overrides). The pod name is `$POD_NAME`, else
//! `$HOSTNAME`; the version is `$VERSION`, else the tag of `$ORCH_IMAGE`.
//! On SIGTERM it prints `SIGTERM received`, waits `$STOP_DELAY_MS`, prints
//! `exiting` and returns.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

/// Runs the server with settings from the environment and `args`; returns
/// after SIGTERM. Errors: the listening address cannot be bound.
pub fn run(args: &[String]) -> std::io::Result<()> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let ip = env("POD_IP").unwrap_or_else(|| "127.0.0.1".into());
    let mut port: u16 = env("PORT").and_then(|p| p.parse().ok()).unwrap_or(8080);
    if let Some(i) = args.iter().position(|a| a == "--port") {
        if let Some(p) = args.get(i + 1).and_then(|p| p.parse().ok()) {
            port = p;
        }
    }
    let name = env("POD_NAME").or_else(|| env("HOSTNAME")).unwrap_or_else(|| "orch-web".into());
    let version = env("VERSION")
        .or_else(|| {
            env("ORCH_IMAGE").and_then(|i| i.rsplit_once(':').map(|(_, tag)| tag.to_owned()))
        })
        .unwrap_or_else(|| "v1".into());
    let stop_delay =
        Duration::from_millis(env("STOP_DELAY_MS").and_then(|d| d.parse().ok()).unwrap_or(0));
    // Block SIGTERM in every thread; this thread waits for it below.
    let mut sigterm = SigSet::empty();
    sigterm.add(Signal::SIGTERM);
    sigterm.thread_block().map_err(std::io::Error::other)?;
    let listener = TcpListener::bind((ip.as_str(), port))?;
    println!("listening on {ip}:{port}");
    std::thread::spawn(move || serve(listener, name, version));
    if sigterm.wait().is_ok() {
        println!("SIGTERM received");
        std::thread::sleep(stop_delay);
        println!("exiting");
    }
    Ok(())
}

fn serve(listener: TcpListener, name: String, version: String) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut reader = BufReader::new(&stream);
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() {
            continue;
        }
        let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let unhealthy =
            std::env::var("UNHEALTHY_FILE").is_ok_and(|f| std::path::Path::new(&f).exists());
        let (status, body) = match path.as_str() {
            "/healthz" if unhealthy => ("500 Internal Server Error", "unhealthy\n".to_owned()),
            "/healthz" => ("200 OK", "ok\n".to_owned()),
            _ => ("200 OK", format!("{name} {version}\n")),
        };
        let mut out = &stream;
        let _ = write!(
            out,
            "HTTP/1.0 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}
