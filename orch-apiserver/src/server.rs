//! The API server: kube-apiserver's REST paths over any [`Store`], one
//! handler that reads the path ([`crate::routes`]), finds the kind and
//! answers in JSON (or as a `Table` when `kubectl get` asks for one).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use orch_core::admission::AdmissionChain;
use orch_core::store::Store;
use orch_core::Resource;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::authn::{Authenticator, PeerCertificate, User};
use crate::discovery::{self, ResourceInfo};
use crate::logs::PodLogs;
use crate::openapi::{KindSchema, OpenApi};
use crate::rbac::Rbac;
use crate::resources::{Backend, ResourceOps, Typed};
use crate::routes::{self, ResourcePath, Route};
use crate::status::Status;
use crate::Error;

/// kube-apiserver's limit on a request body: 3 MiB (`--max-request-bytes`
/// of etcd is 1.5 MiB; kube-apiserver refuses bodies over 3 MiB with 413).
pub const MAX_REQUEST_BYTES: usize = 3 << 20;

/// The API server over a store. See the [crate docs](crate).
#[must_use = "an ApiServer does nothing until served"]
pub struct ApiServer {
    store: Arc<dyn Store>,
    kinds: Vec<Arc<dyn ResourceOps>>,
    authenticator: Option<Authenticator>,
    audit: Option<Arc<AuditLog>>,
    pod_logs: Option<Arc<dyn PodLogs>>,
    rbac: Option<Rbac>,
    admission: AdmissionChain,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> =
            self.kinds.iter().map(|k| k.info().resource.plural.as_str()).collect();
        f.debug_struct("ApiServer").field("kinds", &kinds).finish()
    }
}

/// What every request shares.
pub(crate) struct Shared {
    pub(crate) backend: Backend,
    pub(crate) kinds: Vec<Arc<dyn ResourceOps>>,
    pub(crate) infos: Vec<ResourceInfo>,
    pub(crate) openapi: OpenApi,
    pub(crate) authenticator: Option<Authenticator>,
    pub(crate) audit: Option<Arc<AuditLog>>,
    pub(crate) pod_logs: Option<Arc<dyn PodLogs>>,
    pub(crate) rbac: Option<Rbac>,
    /// Cancelled when the server shuts down: open watches end.
    pub(crate) stop: CancellationToken,
}

impl Shared {
    fn kind(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<dyn ResourceOps>> {
        self.kinds.iter().find(|k| {
            let r = &k.info().resource;
            r.group == group && r.version == version && r.plural == plural
        })
    }
}

impl ApiServer {
    /// A server over `store` serving no kinds yet: add them with
    /// [`kind`](Self::kind) or [`builtin_kinds`](Self::builtin_kinds).
    pub fn new(store: Arc<dyn Store>) -> Self {
        ApiServer {
            store,
            kinds: Vec::new(),
            authenticator: None,
            audit: None,
            pod_logs: None,
            rbac: None,
            admission: AdmissionChain::default(),
        }
    }

    /// Serves orch-core's built-in kinds: Namespace, Node, Pod, ReplicaSet,
    /// Deployment, ConfigMap, Secret, Lease, Event, and RBAC's Role,
    /// ClusterRole, RoleBinding, ClusterRoleBinding.
    pub fn builtin_kinds(self) -> Self {
        use orch_core::kinds::rbac::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
        use orch_core::{
            ConfigMap, Deployment, Event, Job, Lease, Namespace, Node, Pod, ReplicaSet, Secret,
        };
        self.kind_with_schema::<Namespace>()
            .kind_with_schema::<Node>()
            .kind_with_schema::<Pod>()
            .kind_with_schema::<ReplicaSet>()
            .kind_with_schema::<Deployment>()
            .kind_with_schema::<Job>()
            .kind_with_schema::<ConfigMap>()
            .kind_with_schema::<Secret>()
            .kind_with_schema::<Lease>()
            .kind_with_schema::<Event>()
            .kind_with_schema::<Role>()
            .kind_with_schema::<ClusterRole>()
            .kind_with_schema::<RoleBinding>()
            .kind_with_schema::<ClusterRoleBinding>()
    }

    /// Serves `K` (an embedder's own kind) at its group, version and
    /// plural, described in discovery by [`ResourceInfo::builtin`]. Without
    /// a schema it is an opaque object in OpenAPI, and PATCH takes JSON and
    /// merge patches only (as for a CustomResourceDefinition); see
    /// [`kind_with_schema`](Self::kind_with_schema).
    pub fn kind<K: Resource>(mut self) -> Self {
        let info = ResourceInfo::builtin(&K::api_resource());
        self.kinds.push(Arc::new(Typed::<K>::new(info, None)));
        self
    }

    /// Serves `K` as [`kind`](Self::kind) does, with its schema in
    /// `/openapi/v3` and strategic merge patch (driven by the
    /// `x-kubernetes-patch-strategy`/`-merge-key` extensions its fields
    /// carry, as orch-core's kinds do).
    pub fn kind_with_schema<K: Resource + schemars::JsonSchema>(mut self) -> Self {
        let info = ResourceInfo::builtin(&K::api_resource());
        let schema = KindSchema::of::<K>(&info.resource);
        self.kinds.push(Arc::new(Typed::<K>::new(info, Some(schema))));
        self
    }

    /// Authenticates every request with `authenticator` (client
    /// certificates, tokens, anonymous); a request it refuses gets a 401.
    /// Without one, every request is let in unauthenticated, as
    /// kube-apiserver's old insecure port did — for plain HTTP on loopback.
    pub fn authenticator(mut self, authenticator: Authenticator) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Writes an audit event for every request to `log`
    /// ([`crate::audit`]).
    pub fn audit_log(mut self, log: AuditLog) -> Self {
        self.audit = Some(Arc::new(log));
        self
    }

    /// Authorizes every authenticated request with RBAC over the server's
    /// store ([`crate::rbac`]); without it every request is allowed
    /// (kube-apiserver's `AlwaysAllow`).
    pub fn rbac(mut self) -> Self {
        self.rbac = Some(Rbac::new(self.store.clone()));
        self
    }

    /// Runs `chain`'s mutating and validating hooks on every create,
    /// update and delete through the server (kube-apiserver's admission).
    pub fn admission(mut self, chain: AdmissionChain) -> Self {
        self.admission = chain;
        self
    }

    /// Serves `pods/{name}/log` from `logs` (without, it answers 503).
    pub fn pod_logs(mut self, logs: Arc<dyn PodLogs>) -> Self {
        self.pod_logs = Some(logs);
        self
    }

    /// With RBAC, the bootstrap roles ([`crate::rbac::bootstrap_policy`])
    /// are created before the server serves.
    async fn bootstrap(&self) -> Result<(), Error> {
        match &self.rbac {
            Some(rbac) => rbac.bootstrap().await.map_err(Error::Bootstrap),
            None => Ok(()),
        }
    }

    /// The server as an axum `Router` (to mount in a server of one's own).
    pub fn router(self) -> axum::Router {
        self.into_router(CancellationToken::new())
    }

    fn into_router(self, stop: CancellationToken) -> axum::Router {
        let mut infos: Vec<ResourceInfo> = self.kinds.iter().map(|k| k.info().clone()).collect();
        infos.push(ResourceInfo::self_subject_access_reviews());
        let schemas: Vec<(ResourceInfo, Option<KindSchema>)> =
            self.kinds.iter().map(|k| (k.info().clone(), k.schema().cloned())).collect();
        let openapi = OpenApi::new(&schemas);
        let shared = Arc::new(Shared {
            backend: Backend { store: self.store, admission: self.admission, dry_run: false },
            kinds: self.kinds,
            infos,
            openapi,
            authenticator: self.authenticator,
            audit: self.audit,
            pod_logs: self.pod_logs,
            rbac: self.rbac,
            stop,
        });
        axum::Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared)
    }

    /// Serves HTTPS on `listener` with `tls` until `shutdown` is
    /// cancelled (see [`crate::tls`]); client certificates signed by
    /// `tls.client_ca_pem` authenticate as their CN and O, if an
    /// [`authenticator`](Self::authenticator) is set (without one every
    /// request is let in).
    ///
    /// Errors: [`Error::Certificate`] for unusable certificates;
    /// [`Error::Serve`] if the listener fails.
    pub async fn serve_tls(
        self,
        listener: tokio::net::TcpListener,
        tls: &crate::tls::TlsSettings,
        shutdown: CancellationToken,
    ) -> Result<(), Error> {
        let config = crate::tls::server_config(tls)?;
        self.bootstrap().await?;
        let app = self.into_router(shutdown.clone());
        crate::tls::serve(listener, config, app, shutdown).await
    }

    /// Serves on `listener` (plain HTTP) until `shutdown` is cancelled;
    /// requests in flight finish first (watches end).
    ///
    /// Errors: [`Error::Serve`] if the listener fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), Error> {
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        self.bootstrap().await?;
        let app = self.into_router(shutdown.clone());
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| Error::Serve { addr, source })
    }
}

/// The request's query parameters, percent-decoded (the last value of a
/// repeated one).
fn query(uri: &Uri) -> BTreeMap<String, String> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|axum::extract::Query(pairs)| pairs.into_iter().collect())
        .unwrap_or_default()
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    (code, axum::Json(value)).into_response()
}

/// Every request: authenticated, routed, audited.
async fn handle(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    let received = chrono::Utc::now();
    let (parts, body) = request.into_parts();
    let (user, response) = authenticate_and_route(&shared, &parts, body).await;
    if let Some(audit) = &shared.audit {
        let source_ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let request = crate::audit::Request {
            method: &parts.method,
            uri: &parts.uri,
            user: user.as_ref(),
            unsecured: shared.authenticator.is_none(),
            source_ip,
            user_agent: parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()),
            received,
        };
        audit.record(&request, response.status().as_u16());
    }
    response
}

async fn authenticate_and_route(
    shared: &Arc<Shared>,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
) -> (Option<User>, Response) {
    let user = match &shared.authenticator {
        Some(authenticator) => {
            let certificate = parts.extensions.get::<PeerCertificate>().map(|p| &p.0);
            match authenticator.authenticate(&parts.headers, certificate) {
                Ok(user) => Some(user),
                Err(status) => return (None, status.into_response()),
            }
        }
        None => None,
    };
    let body = match read_body(body).await {
        Some(b) => b,
        None => return (user, too_large().into_response()),
    };
    if let (Some(rbac), Some(user)) = (&shared.rbac, &user) {
        let mut a = attributes(&parts.method, &parts.uri);
        if a.verb == "create" && crate::rbac::node_of(user).is_some() {
            // What NodeRestriction reads of a node's create: the name.
            let object: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            a.created_name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
        }
        match rbac.decide(user, &a).await {
            Ok(d) if d.allowed => {}
            Ok(_) => return (Some(user.clone()), crate::rbac::forbidden(user, &a).into_response()),
            Err(status) => return (Some(user.clone()), status.into_response()),
        }
    }
    let response =
        match route(shared, &parts.method, &parts.uri, &parts.headers, body, user.as_ref()).await {
            Ok(r) => r,
            Err(status) => status.into_response(),
        };
    (user, response)
}

/// The authorizer attributes of a request (empty resource outside the
/// resource API). A SelfSubjectAccessReview is a `create` anyone
/// authenticated may make, as kube-apiserver's `system:basic-user` allows.
fn attributes(method: &Method, uri: &Uri) -> crate::rbac::Attributes {
    let route = routes::parse(uri.path());
    let watch = routes::is_watch(uri.query().unwrap_or(""));
    let verb = crate::audit::verb(method, route.as_ref(), watch);
    match route {
        Some(Route::Resource(p)) if p.plural != "selfsubjectaccessreviews" => {
            crate::rbac::Attributes {
                verb,
                group: p.group.to_owned(),
                resource: p.plural.to_owned(),
                subresource: p.subresource.unwrap_or("").to_owned(),
                namespace: p.namespace.unwrap_or("").to_owned(),
                name: p.name.unwrap_or("").to_owned(),
                created_name: String::new(),
            }
        }
        _ => crate::rbac::Attributes { verb, ..Default::default() },
    }
}

/// How much of an oversized body is read (and dropped) before the 413 is
/// sent, so that a client that writes its whole body before reading reads
/// the 413 rather than a reset connection; past this the connection is
/// closed on it.
const DRAIN_BYTES: usize = 64 << 20;

/// The request body, or `None` if it is over [`MAX_REQUEST_BYTES`] (what
/// follows is drained up to [`DRAIN_BYTES`]).
async fn read_body(body: axum::body::Body) -> Option<Bytes> {
    use futures::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.ok()?;
        total += chunk.len();
        if total <= MAX_REQUEST_BYTES {
            buf.extend_from_slice(&chunk);
        } else if total > DRAIN_BYTES {
            return None;
        }
    }
    (total <= MAX_REQUEST_BYTES).then(|| buf.freeze())
}

/// kube-apiserver's 413 for a body over [`MAX_REQUEST_BYTES`].
fn too_large() -> Status {
    Status {
        code: 413,
        reason: "RequestEntityTooLarge",
        message: format!("the request body is over the limit of {MAX_REQUEST_BYTES} bytes"),
        details: None,
    }
}

async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    user: Option<&User>,
) -> Result<Response, Status> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(route) = routes::parse(uri.path()) else {
        return Err(Status::path_not_found());
    };
    if method != Method::GET && !matches!(route, Route::Resource(_)) {
        return Err(Status::method_not_allowed(method.as_str(), uri.path()));
    }
    let infos = &shared.infos;
    match route {
        Route::Version => Ok(json_response(StatusCode::OK, &discovery::version())),
        Route::OpenApi(path) => shared.openapi.respond(path, headers),
        Route::Api | Route::Apis => {
            let core = matches!(route, Route::Api);
            if let Some(content_type) = discovery::wants_aggregated(accept) {
                let doc = if core {
                    discovery::aggregated_api(infos)
                } else {
                    discovery::aggregated_apis(infos)
                };
                let doc = discovery::aggregated_as(doc, content_type);
                return Ok(
                    ([(header::CONTENT_TYPE, content_type)], axum::Json(doc)).into_response()
                );
            }
            let doc = if core {
                let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
                discovery::legacy_api_versions(host)
            } else {
                discovery::legacy_group_list(infos)
            };
            Ok(json_response(StatusCode::OK, &doc))
        }
        Route::Group(group) => discovery::legacy_group(infos, group)
            .map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(Status::path_not_found),
        Route::GroupVersion { group, version } => discovery::resource_list(infos, group, version)
            .map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(Status::path_not_found),
        Route::Resource(path)
            if (path.group, path.version, path.plural)
                == ("authorization.k8s.io", "v1", "selfsubjectaccessreviews") =>
        {
            if method != Method::POST || path.name.is_some() {
                return Err(Status::method_not_allowed(
                    method.as_str(),
                    "selfsubjectaccessreviews",
                ));
            }
            let request = json_body(headers, &body)?;
            let decision = match (&shared.rbac, user) {
                (Some(rbac), Some(user)) => {
                    Some(rbac.decide(user, &crate::access_review::attributes(&request)).await?)
                }
                _ => None,
            };
            let review = crate::access_review::review(request, user, decision);
            Ok(json_response(StatusCode::CREATED, &review))
        }
        Route::Resource(path) => {
            let kind = shared
                .kind(path.group, path.version, path.plural)
                .ok_or_else(Status::path_not_found)?
                .clone();
            crate::handlers::resource(shared, kind, &path, method, &query(uri), headers, body).await
        }
    }
}

/// Reads a request body as JSON.
///
/// Errors: 413 over [`MAX_REQUEST_BYTES`]; 415 for protobuf or another
/// media type than JSON; 400 for malformed JSON.
pub(crate) fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Status> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(too_large());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if crate::protobuf::is_protobuf(content_type) {
        return crate::protobuf::decode(body);
    }
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !(media == "application/json"
        || media.ends_with("+json")
        || media == "application/apply-patch+yaml")
    {
        return Err(Status::unsupported_media_type(content_type));
    }
    serde_json::from_slice(body)
        .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// The paths' kind and namespace checks shared by the handlers.
pub(crate) fn namespace_of<'a>(
    kind: &dyn ResourceOps,
    path: &ResourcePath<'a>,
) -> Result<Option<&'a str>, Status> {
    let namespaced = kind.info().resource.namespaced;
    match (namespaced, path.namespace) {
        (false, Some(_)) => Err(Status::path_not_found()),
        (_, ns) => Ok(ns),
    }
}

/// A list's JSON: `{"kind":"PodList","apiVersion":"v1","metadata":{…},"items":[…]}`.
pub(crate) fn list_json(
    info: &ResourceInfo,
    items: Vec<Value>,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let mut list = list_head(&info.resource, resource_version, continue_token);
    list["items"] = Value::Array(items);
    list
}

/// A list's `kind`, `apiVersion` and `metadata` (`resourceVersion`, and
/// `continue` when there is more).
pub(crate) fn list_head(
    resource: &orch_core::ApiResource,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let mut metadata = json!({"resourceVersion": resource_version});
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version,
        "metadata": metadata,
    })
}
