//! HTTPS (rustls, HTTP/1.1): the serving certificate, and client
//! certificates verified against the cluster CA — optional at the TLS
//! layer, as kube-apiserver's, so that token users connect too; the
//! verified certificate's user rides on each request of the connection.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_util::sync::CancellationToken;

use crate::authn::{certificate_user, PeerCertificate};
use crate::pki::CertifiedKey;
use crate::Error;

/// What the TLS server presents and trusts.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The serving certificate and key (PEM).
    pub server: CertifiedKey,
    /// The CA (PEM) whose client certificates authenticate users; `None`:
    /// no client certificates (tokens or anonymous only).
    pub client_ca_pem: Option<String>,
}

fn tls_error(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Certificate { what: what.to_owned(), reason: reason.to_string() }
}

/// The rustls server configuration of `settings` (TLS 1.2 and 1.3;
/// ALPN `http/1.1`).
///
/// Errors: [`Error::Certificate`] for a certificate or key that does not
/// parse or does not go together.
pub fn server_config(settings: &TlsSettings) -> Result<rustls::ServerConfig, Error> {
    let chain = CertificateDer::pem_slice_iter(settings.server.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error("the serving certificate", e))?;
    let key = PrivateKeyDer::from_pem_slice(settings.server.key_pem.as_bytes())
        .map_err(|e| tls_error("the serving key", e))?;
    // The crate's provider (ring, the one rustls is built with here).
    let builder = rustls::ServerConfig::builder();
    let builder = match &settings.client_ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(cert.map_err(|e| tls_error("the client CA", e))?)
                    .map_err(|e| tls_error("the client CA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| tls_error("the client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("the serving certificate and key", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `app` over TLS on `listener` until `shutdown`: each connection
/// is handshaken, its client certificate (if any, already verified) read
/// for its user, then served HTTP/1.1; on shutdown every connection is
/// closed gracefully (watches end).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    config: rustls::ServerConfig,
    app: axum::Router,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, peer_addr) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(source) => return Err(Error::Serve { addr, source }),
            },
        };
        let (acceptor, app, stop) = (acceptor.clone(), app.clone(), shutdown.clone());
        connections.spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|c| certificate_user(c).ok());
            let app = app.layer(axum::Extension(axum::extract::ConnectInfo(peer_addr)));
            let app = match peer {
                Some(user) => app.layer(axum::Extension(PeerCertificate(user))),
                None => app,
            };
            let service = TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}
