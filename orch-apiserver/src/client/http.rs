//! The HTTP(S) connection of a [`Client`](super::Client): hyper's pooled
//! client over rustls (keep-alive, HTTP/1.1), the user's credentials on
//! every request, and a server's `metav1.Status` refusals turned back into
//! [`orch_core::Error`]s.

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{header, Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use super::ClientConfig;
use crate::Error;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The connection.
pub(super) struct Http {
    pub(super) server: String,
    client: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
    token: Option<String>,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Kubeconfig { reason: reason.into() }
}

fn unavailable(e: impl std::fmt::Display) -> orch_core::Error {
    orch_core::Error::Unavailable(format!("the API server: {e}"))
}

impl Http {
    pub(super) fn new(config: ClientConfig) -> Result<Http, Error> {
        if !(config.server.starts_with("https://") || config.server.starts_with("http://")) {
            return Err(bad(format!("server {:?} is not an http(s):// URL", config.server)));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in config.ca_pem.iter().flat_map(|p| CertificateDer::pem_slice_iter(p.as_bytes()))
        {
            let cert = cert.map_err(|e| bad(format!("the CA certificate: {e}")))?;
            roots.add(cert).map_err(|e| bad(format!("the CA certificate: {e}")))?;
        }
        if config.server.starts_with("https://") && roots.is_empty() {
            return Err(bad("an https:// server needs the certificate-authority that signed it"));
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let tls = match &config.client_cert {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(format!("the client certificate: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                    .map_err(|e| bad(format!("the client key: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad(format!("the client certificate: {e}")))?
            }
            None => builder.with_no_client_auth(),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Http { server: config.server, client, token: config.token })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> orch_core::Result<hyper::Response<hyper::body::Incoming>> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server))
            .header(header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(unavailable)?;
        self.client.request(request).await.map_err(unavailable)
    }

    /// One request's JSON answer and status code; a refusal is the error
    /// its Status describes, about `object` (`pods/default/web`).
    pub(super) async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, &Value)>,
        object: &str,
    ) -> orch_core::Result<(StatusCode, Value)> {
        let body = body.map(|(t, v)| (t, serde_json::to_vec(v).unwrap_or_default()));
        let response = self.send(method, path, body).await?;
        let code = response.status();
        let bytes = response.into_body().collect().await.map_err(unavailable)?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if code.is_success() {
            Ok((code, value))
        } else {
            Err(refusal(code, &value, object))
        }
    }

    /// The lines of a streaming answer (a watch), each a JSON value.
    pub(super) async fn lines(
        &self,
        path: &str,
        object: &str,
    ) -> orch_core::Result<BoxStream<'static, orch_core::Result<Value>>> {
        let response = self.send(Method::GET, path, None).await?;
        let code = response.status();
        if !code.is_success() {
            let bytes = response.into_body().collect().await.map_err(unavailable)?.to_bytes();
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(refusal(code, &value, object));
        }
        let body = response.into_body().into_data_stream();
        let state = (body, BytesMut::new(), false);
        Ok(stream::unfold(state, |(mut body, mut buf, mut done)| async move {
            loop {
                if let Some(end) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(end + 1);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let parsed = serde_json::from_slice(&line).map_err(unavailable);
                    return Some((parsed, (body, buf, done)));
                }
                if done {
                    return None;
                }
                match body.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => return Some((Err(unavailable(e)), (body, buf, true))),
                    None => {
                        if !buf.is_empty() {
                            buf.extend_from_slice(b"\n");
                        }
                        done = true;
                    }
                }
            }
        })
        .boxed())
    }
}

/// The error a server's refusal stands for: its Status's code and reason.
pub(super) fn refusal(code: StatusCode, status: &Value, object: &str) -> orch_core::Error {
    use orch_core::Error as E;
    let message =
        status["message"].as_str().map(str::to_owned).unwrap_or_else(|| status.to_string());
    let reason = status["reason"].as_str().unwrap_or("");
    let object = object.to_owned();
    match (code.as_u16(), reason) {
        (404, _) => E::NotFound { object },
        (409, "AlreadyExists") => E::AlreadyExists { object },
        (409, _) => E::Conflict { object, expected: String::new(), actual: message },
        (422, _) => E::Invalid {
            object,
            field: status["details"]["causes"][0]["field"].as_str().unwrap_or("").to_owned(),
            reason: message,
        },
        (410, _) => {
            E::Gone { resource: object, resource_version: String::new(), compact_revision: 0 }
        }
        (401 | 403, _) => E::Forbidden { object, message },
        (400 | 413 | 415, _) => E::BadRequest { object, reason: message },
        (code, _) => E::Unavailable(format!("{object}: HTTP {code}: {message}")),
    }
}
