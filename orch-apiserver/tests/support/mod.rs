//! An API server on loopback for the tests, over a MemStore, on a runtime
//! of its own (the tests' clients — ureq, kubectl — block).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use orch_apiserver::ApiServer;
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

/// A running server; stopped when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub store: Arc<MemStore>,
    pub runtime: tokio::runtime::Runtime,
    stop: CancellationToken,
}

impl Server {
    /// Serves the built-in kinds over a fresh MemStore on 127.0.0.1.
    pub fn start() -> Server {
        Self::start_with(|server, listener, stop| {
            tokio::spawn(server.serve(listener, stop));
        })
    }

    /// As [`start`](Self::start), the server configured by `configure`.
    pub fn start_configured(configure: impl FnOnce(ApiServer) -> ApiServer + 'static) -> Server {
        Self::start_with(move |server, listener, stop| {
            tokio::spawn(configure(server).serve(listener, stop));
        })
    }

    /// As [`start`](Self::start), HTTPS with `tls`, the server configured
    /// by `configure` (an authenticator, an audit log).
    pub fn start_tls(
        tls: orch_apiserver::tls::TlsSettings,
        configure: impl FnOnce(ApiServer) -> ApiServer + 'static,
    ) -> Server {
        Self::start_with(move |server, listener, stop| {
            let server = configure(server);
            tokio::spawn(async move { server.serve_tls(listener, &tls, stop).await });
        })
    }

    fn start_with(
        serve: impl FnOnce(ApiServer, tokio::net::TcpListener, CancellationToken),
    ) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let store = Arc::new(MemStore::new());
        let stop = CancellationToken::new();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let server = ApiServer::new(store.clone()).builtin_kinds();
        let _entered = runtime.enter();
        serve(server, listener, stop.clone());
        drop(_entered);
        Server { addr, store, runtime, stop }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// An HTTP client that hands back every status (4xx and 5xx too).
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().new_agent()
}

/// (status code, body as JSON) of a response.
pub fn json(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (u16, serde_json::Value) {
    let mut response = response.expect("the server answers");
    let code = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("a body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (code, value)
}
