//! The actions of probes and lifecycle hooks, as the kubelet runs them
//! against a container: exec (exit 0 succeeds), httpGet (a status of
//! 200–399 succeeds) and tcpSocket (a connection succeeds). An httpGet with
//! `scheme: HTTPS` speaks TLS (rustls) and, as the kubelet, does not verify
//! the server's certificate.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use orch_core::kinds::pod::{Container, ExecAction, HttpGetAction, TcpSocketAction};
use orch_core::IntOrString;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::runtime::Runtime;

/// One action against a container.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action<'a> {
    /// Run a command in the container.
    Exec(&'a ExecAction),
    /// An HTTP GET to the pod (or `host`).
    HttpGet(&'a HttpGetAction),
    /// A TCP connect to the pod (or `host`).
    TcpSocket(&'a TcpSocketAction),
}

impl Action<'_> {
    /// Runs the action once against container `container_id` (of spec
    /// `container`, in a pod at `pod_ip`), within `timeout`: `Ok(())` if it
    /// succeeded, else why not, worded as the kubelet's results (the
    /// command's output, `HTTP probe failed with statuscode: 503`, `dial
    /// tcp …: connection refused`).
    pub(crate) async fn run(
        self,
        runtime: &dyn Runtime,
        container_id: &str,
        pod_ip: &str,
        container: &Container,
        timeout: Duration,
    ) -> Result<(), String> {
        match self {
            Action::Exec(exec) => {
                let r = runtime.exec_sync(container_id, &exec.command, timeout).await;
                let r = r.map_err(|e| e.to_string())?;
                if r.exit_code == 0 {
                    return Ok(());
                }
                let output =
                    String::from_utf8_lossy(&[r.stdout, r.stderr].concat()).trim().to_owned();
                Err(if output.is_empty() {
                    format!("command {:?} exited with {}", exec.command, r.exit_code)
                } else {
                    output
                })
            }
            Action::HttpGet(http) => {
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
                if (200..400).contains(&code) {
                    Ok(())
                } else {
                    Err(format!("HTTP probe failed with statuscode: {code}"))
                }
            }
            Action::TcpSocket(tcp) => {
                let port = resolve_port(&tcp.port, container)?;
                let host = tcp.host.clone().unwrap_or_else(|| pod_ip.to_owned());
                let connect = tokio::net::TcpStream::connect((host.as_str(), port));
                match tokio::time::timeout(timeout, connect).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("dial tcp {host}:{port}: {e}")),
                    Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
                }
            }
        }
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

/// The TLS settings of HTTPS actions, made once: any server certificate is
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
