//! orch-apiserver over HTTPS with keep-alive on loopback (MemStore under
//! it, the admin client certificate, RBAC on), one line per figure:
//!
//! 1. `create` — 10,000 pods POSTed over 16 connections: pods/s;
//! 2. `list` — LIST of the 10,000 pods (JSON): ms, median of 5;
//! 3. `get` — GET of one pod over 16 connections for 3 s: req/s, p99;
//! 4. `get-paced` — the same GET at 1,000 req/s for 3 s: p50, p99;
//! 5. `watch` — 100 watchers; 200 label patches at ~200/s: delivery delay
//!    behind the write, p50 and p99.
//!
//! `cargo bench -p orch-benches --bench apiserver`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use orch_apiserver::pki::{CertifiedKey, Pki};
use orch_apiserver::tls::TlsSettings;
use orch_apiserver::{ApiServer, Authenticator};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_util::sync::CancellationToken;

const PODS: usize = 10_000;
const CONNECTIONS: usize = 16;
const WATCHERS: usize = 100;

fn client_config(pki: &Pki, client: &CertifiedKey) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(c.expect("CA")).expect("CA");
    }
    let chain: Vec<_> = CertificateDer::pem_slice_iter(client.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("client cert");
    let key = PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).expect("client key");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client auth"),
    )
}

/// One keep-alive HTTPS connection.
async fn connect(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let stream = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await.expect("TLS");
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    send
}

async fn call(
    send: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    content_type: &str,
    body: Bytes,
) -> (u16, Bytes) {
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", content_type)
        .body(Full::new(body))
        .expect("request");
    send.ready().await.expect("ready");
    let response = send.send_request(request).await.expect("response");
    let code = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (code, body)
}

fn pod(i: usize) -> Bytes {
    Bytes::from(
        serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("p-{i}"), "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        .to_string(),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run() {
    let pki = Pki::generate(&[]).expect("PKI");
    let admin = pki.client("admin", &["system:masters"]).expect("admin");
    let tls = TlsSettings { server: pki.server.clone(), client_ca_pem: Some(pki.ca_pem.clone()) };
    let store = Arc::new(orch_store::MemStore::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let server = ApiServer::new(store).builtin_kinds().authenticator(Authenticator::new()).rbac();
    let s = stop.clone();
    let serving = tokio::spawn(async move { server.serve_tls(listener, &tls, s).await });
    let client = client_config(&pki, &admin);
    let pods = "/api/v1/namespaces/default/pods";

    // 1. create
    let started = Instant::now();
    let creators: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut send = connect(addr, client).await;
                for i in (c..PODS).step_by(CONNECTIONS) {
                    let (code, _) = call(&mut send, "POST", pods, "application/json", pod(i)).await;
                    assert_eq!(code, 201, "create p-{i}");
                }
            })
        })
        .collect();
    for c in creators {
        c.await.expect("creator");
    }
    let took = started.elapsed();
    println!(
        "apiserver op=create pods={PODS} connections={CONNECTIONS} pods_per_sec={:.0}",
        PODS as f64 / took.as_secs_f64()
    );

    // 2. list
    let mut send = connect(addr, client.clone()).await;
    let mut lists = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (code, body) = call(&mut send, "GET", pods, "application/json", Bytes::new()).await;
        lists.push(t.elapsed());
        assert_eq!(code, 200);
        assert!(body.len() > PODS * 100, "a list of every pod");
    }
    lists.sort();
    println!("apiserver op=list pods={PODS} median_ms={:.1}", percentile(&lists, 0.5));

    // 3. get, as fast as 16 connections go
    let one = format!("{pods}/p-1");
    let window = Duration::from_secs(3);
    let getters: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, one) = (client.clone(), one.clone());
            tokio::spawn(async move {
                let mut send = connect(addr, client).await;
                let mut latencies = Vec::new();
                let end = Instant::now() + window;
                while Instant::now() < end {
                    let t = Instant::now();
                    let (code, _) =
                        call(&mut send, "GET", &one, "application/json", Bytes::new()).await;
                    latencies.push(t.elapsed());
                    assert_eq!(code, 200);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for g in getters {
        all.extend(g.await.expect("getter"));
    }
    all.sort();
    println!(
        "apiserver op=get connections={CONNECTIONS} req_per_sec={:.0} p99_ms={:.2}",
        all.len() as f64 / window.as_secs_f64(),
        percentile(&all, 0.99)
    );

    // 4. get at 1,000 req/s
    let mut paced = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for _ in 0..3000 {
        tick.tick().await;
        let t = Instant::now();
        let (code, _) = call(&mut send, "GET", &one, "application/json", Bytes::new()).await;
        paced.push(t.elapsed());
        assert_eq!(code, 200);
    }
    paced.sort();
    println!(
        "apiserver op=get-paced rate=1000 p50_ms={:.2} p99_ms={:.2}",
        percentile(&paced, 0.5),
        percentile(&paced, 0.99)
    );

    // 5. watch delivery
    let (code, body) = call(&mut send, "GET", &one, "application/json", Bytes::new()).await;
    assert_eq!(code, 200);
    let rv = serde_json::from_slice::<serde_json::Value>(&body).expect("pod")["metadata"]
        ["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_owned();
    let epoch = Instant::now();
    let watch_path =
        format!("{pods}?watch=true&fieldSelector=metadata.name%3Dp-1&resourceVersion={rv}");
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut send = connect(addr, client.clone()).await;
        let request = hyper::Request::builder()
            .uri(&watch_path)
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::new()))
            .expect("watch");
        let response = send.send_request(request).await.expect("watch response");
        assert_eq!(response.status().as_u16(), 200);
        let mut body = response.into_body();
        watchers.push(tokio::spawn(async move {
            let _keep = send;
            let mut delays = Vec::new();
            let mut buf = Vec::new();
            while delays.len() < 200 {
                let Some(Ok(frame)) = body.frame().await else { break };
                let Ok(data) = frame.into_data() else { continue };
                buf.extend_from_slice(&data);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let now = epoch.elapsed();
                    let event: serde_json::Value = serde_json::from_slice(&line).expect("event");
                    let sent: u64 = event["object"]["metadata"]["labels"]["sent-us"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    delays.push(now.saturating_sub(Duration::from_micros(sent)));
                }
            }
            delays
        }));
    }
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..200 {
        tick.tick().await;
        let sent = epoch.elapsed().as_micros().to_string();
        let patch = serde_json::json!({"metadata": {"labels": {"sent-us": sent}}}).to_string();
        let (code, _) =
            call(&mut send, "PATCH", &one, "application/merge-patch+json", Bytes::from(patch))
                .await;
        assert_eq!(code, 200);
    }
    let mut delays = Vec::new();
    for w in watchers {
        delays.extend(
            tokio::time::timeout(Duration::from_secs(60), w)
                .await
                .expect("watchers")
                .expect("watcher"),
        );
    }
    delays.sort();
    println!(
        "apiserver op=watch watchers={WATCHERS} events={} p50_ms={:.2} p99_ms={:.2}",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99)
    );
    stop.cancel();
    let _ = serving.await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}
