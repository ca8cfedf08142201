//! `orch-web`: a tiny HTTP server for demos and tests. Listens on
//! `$POD_IP:$PORT` (defaults 127.0.0.1:8080; `--port N` overrides), answers
//! `GET /` with `<pod name> <version>` (`$POD_NAME`, `$VERSION`), `GET
//! /healthz` with 200 unless the file named by `$UNHEALTHY_FILE` exists,
//! and on SIGTERM prints `SIGTERM received` and exits after `$STOP_DELAY_MS`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

fn main() {
    let ip = std::env::var("POD_IP").unwrap_or_else(|_| "127.0.0.1".into());
    let mut port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--port") {
        if let Some(p) = args.get(i + 1).and_then(|p| p.parse().ok()) {
            port = p;
        }
    }
    let name = std::env::var("POD_NAME").unwrap_or_else(|_| "orch-web".into());
    let version = std::env::var("VERSION").unwrap_or_else(|_| "v1".into());
    let stop_delay = Duration::from_millis(
        std::env::var("STOP_DELAY_MS").ok().and_then(|d| d.parse().ok()).unwrap_or(0),
    );
    // Block SIGTERM in every thread; the main thread waits for it below.
    let mut sigterm = SigSet::empty();
    sigterm.add(Signal::SIGTERM);
    if let Err(e) = sigterm.thread_block() {
        eprintln!("cannot watch SIGTERM: {e}");
    }
    let listener = match TcpListener::bind((ip.as_str(), port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {ip}:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {ip}:{port}");
    std::thread::spawn(move || serve(listener, name, version));
    if sigterm.wait().is_ok() {
        println!("SIGTERM received");
        std::thread::sleep(stop_delay);
        println!("exiting");
    }
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
