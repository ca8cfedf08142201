//! Liveness, readiness and startup probes, as kubelet runs them: exec
//! (exit 0 passes), httpGet (a status of 200–399 passes) and tcpSocket (a
//! connection passes), with initialDelaySeconds, periodSeconds,
//! timeoutSeconds, successThreshold and failureThreshold. An httpGet probe
//! with `scheme: HTTPS` speaks TLS (rustls) and, as the kubelet, does not
//! verify the server's certificate.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use orch_core::kinds::pod::{Container, Probe};
use orch_core::IntOrString;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::runtime::Runtime;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Restarts the container after `failureThreshold` failures.
    Liveness,
    /// Decides whether the container is Ready.
    Readiness,
    /// Holds the other probes off until it passes.
    Startup,
}

impl ProbeKind {
    /// `Liveness`, `Readiness` or `Startup`, as the kubelet's Unhealthy
    /// Events name them ("Readiness probe failed").
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// One probe of one running container, with its counters.
#[derive(Debug)]
pub struct ProbeTracker {
    /// Which probe.
    pub kind: ProbeKind,
    spec: Probe,
    successes: i32,
    failures: i32,
    /// The current verdict: `None` until the thresholds decide.
    pub passing: Option<bool>,
    /// When it runs next.
    pub next_at: Instant,
}

impl ProbeTracker {
    /// A tracker for a container that started at `started`.
    pub fn new(kind: ProbeKind, spec: Probe, started: Instant) -> Self {
        let delay = Duration::from_secs(spec.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        ProbeTracker {
            kind,
            spec,
            successes: 0,
            failures: 0,
            passing: None,
            next_at: started + delay,
        }
    }

    fn period(&self) -> Duration {
        Duration::from_secs(self.spec.period_seconds.unwrap_or(10).max(1) as u64)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.spec.timeout_seconds.unwrap_or(1).max(1) as u64)
    }

    /// Records one result and schedules the next run.
    pub fn record(&mut self, ok: bool, now: Instant) {
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= self.spec.success_threshold.unwrap_or(1).max(1) {
                self.passing = Some(true);
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= self.spec.failure_threshold.unwrap_or(3).max(1) {
                self.passing = Some(false);
            }
        }
        self.next_at = now + self.period();
    }

    /// Runs the probe once against a container: `Ok(())` if it passed,
    /// else why not, worded as the kubelet's probe results (the exec
    /// probe's output, `HTTP probe failed with statuscode: 503`, `dial tcp
    /// …: connection refused`).
    pub async fn probe(
        &self,
        runtime: &dyn Runtime,
        container_id: &str,
        pod_ip: &str,
        container: &Container,
    ) -> Result<(), String> {
        let timeout = self.timeout();
        if let Some(exec) = &self.spec.exec {
            let r = runtime.exec_sync(container_id, &exec.command, timeout).await;
            let r = r.map_err(|e| e.to_string())?;
            if r.exit_code == 0 {
                return Ok(());
            }
            let output = String::from_utf8_lossy(&[r.stdout, r.stderr].concat()).trim().to_owned();
            return Err(if output.is_empty() {
                format!("command {:?} exited with {}", exec.command, r.exit_code)
            } else {
                output
            });
        }
        if let Some(http) = &self.spec.http_get {
            let port = resolve_port(&http.port, container)?;
            let host = http.host.clone().unwrap_or_else(|| pod_ip.to_owned());
            let path = http.path.clone().unwrap_or_else(|| "/".into());
            let headers: Vec<(String, String)> =
                http.http_headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect();
            let https = http.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
            let url = format!("{}://{host}:{port}{path}", if https { "https" } else { "http" });
            let get = http_get(&host, port, &path, &headers, https);
            let code = tokio::time::timeout(timeout, get)
                .await
                .map_err(|_| format!("Get \"{url}\": context deadline exceeded"))?
                .map_err(|e| format!("Get \"{url}\": {e}"))?;
            return if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(format!("HTTP probe failed with statuscode: {code}"))
            };
        }
        if let Some(tcp) = &self.spec.tcp_socket {
            let port = resolve_port(&tcp.port, container)?;
            let host = tcp.host.clone().unwrap_or_else(|| pod_ip.to_owned());
            let connect = tokio::net::TcpStream::connect((host.as_str(), port));
            return match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("dial tcp {host}:{port}: {e}")),
                Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
            };
        }
        Err("the probe has no exec, httpGet or tcpSocket action".into())
    }
}

/// A port number, or the number of a named container port; the error names
/// the port that is neither.
fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let found = match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    };
    found.ok_or_else(|| format!("port {port:?} is not a port number or a named container port"))
}

/// An HTTP/1.0 GET, over TLS if `https`; the response's status code, or
/// why there is none.
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    https: bool,
) -> std::io::Result<u16> {
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    if !https {
        return status_of_get(tcp, host, port, path, headers).await;
    }
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls = tokio_rustls::TlsConnector::from(insecure_tls()).connect(name, tcp).await?;
    status_of_get(tls, host, port, path, headers).await
}

async fn status_of_get(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> std::io::Result<u16> {
    let mut request =
        format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: orch-probe/1.0\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut buf[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let head = String::from_utf8_lossy(&buf[..read]);
    head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("malformed HTTP response {head:?}"),
        )
    })
}

/// The TLS settings of HTTPS probes, made once: any server certificate is
/// accepted, as the kubelet's probes skip verification (the handshake's
/// signatures are still checked).
fn insecure_tls() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // The crate's provider (ring, the one rustls is built with here).
            let builder = ClientConfig::builder();
            let verifier = Arc::new(AnyServerCert(builder.crypto_provider().clone()));
            Arc::new(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

/// Accepts any certificate, checking only the handshake signatures.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
