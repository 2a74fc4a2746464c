//! The request path: URLs of containers, collections and objects, authentication of
//! each attempt, sending through storage-http's pooled client and retry engine, and
//! PROPFIND.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, Uri};
use storage_core::{Error, ErrorKind, Result};
use storage_http::{HttpClient, HttpRequest, HttpResponse, RequestBody, Signer, http};

use crate::config::{Credentials, WebDavConfig};
use crate::paths::{child_name, decode, encode_path, encode_segment, href_path};
use crate::xml::{PROPFIND_BODY, Resource, parse_multistatus};

/// Where requests go: `{scheme}://{authority}{base}/{container}/{key}`.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `http://host:port` or `https://host`.
    origin: String,
    /// The encoded path under which containers live, without a trailing `/` (`""` or
    /// `/dav`).
    base: String,
    /// `base` decoded, to compare hrefs with.
    base_decoded: String,
}

impl Endpoint {
    pub(crate) fn new(config: &WebDavConfig) -> Result<Self> {
        let (tls, authority, path) = config.parts()?;
        let base_decoded = decode(&path).ok_or_else(|| {
            Error::new(ErrorKind::Config, "the endpoint's path is not valid UTF-8 once percent-decoded")
        })?;
        let scheme = if tls { "https" } else { "http" };
        Ok(Endpoint { origin: format!("{scheme}://{authority}"), base: path, base_decoded })
    }

    /// The URL of the server's root collection (where containers are), ending in `/`.
    pub(crate) fn root_url(&self) -> String {
        format!("{}{}/", self.origin, self.base)
    }

    /// The URL of a container's collection (no trailing `/`).
    pub(crate) fn container_url(&self, container: &str) -> String {
        format!("{}{}/{}", self.origin, self.base, encode_segment(container))
    }

    /// The URL of a key, or of the collection a key prefix ending in `/` names (without
    /// its trailing `/`: servers answer PROPFIND on a collection either way, and a file
    /// standing where a collection was expected answers for itself instead of a 400).
    pub(crate) fn key_url(&self, container: &str, key: &str) -> String {
        let key = key.strip_suffix('/').unwrap_or(key);
        if key.is_empty() {
            return self.container_url(container);
        }
        format!("{}/{}", self.container_url(container), encode_path(key))
    }

    /// The decoded path of a container's collection, ending in `/`.
    pub(crate) fn container_path(&self, container: &str) -> String {
        format!("{}/{container}/", self.base_decoded)
    }

    /// The decoded path of the collection a key prefix (`""` or ending in `/`) names,
    /// ending in `/`.
    pub(crate) fn dir_path(&self, container: &str, dir: &str) -> String {
        format!("{}{dir}", self.container_path(container))
    }

    /// The decoded path of the root collection, ending in `/`.
    pub(crate) fn root_path(&self) -> String {
        format!("{}/", self.base_decoded)
    }
}

/// Adds the configured `Authorization` header to each attempt.
pub(crate) struct AuthSigner {
    header: Option<HeaderValue>,
}

impl AuthSigner {
    fn new(credentials: &Credentials) -> Result<Self> {
        let value = match credentials {
            Credentials::Anonymous => return Ok(AuthSigner { header: None }),
            Credentials::Basic { username, password } => {
                if username.contains(':') {
                    return Err(Error::new(ErrorKind::Config, "a Basic authentication user name cannot hold `:`"));
                }
                let raw = format!("{username}:{}", password.expose());
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
            }
            Credentials::Bearer(token) => format!("Bearer {}", token.expose()),
        };
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| Error::new(ErrorKind::Config, "the credentials cannot be sent in an Authorization header"))?;
        header.set_sensitive(true);
        Ok(AuthSigner { header: Some(header) })
    }
}

#[async_trait]
impl Signer for AuthSigner {
    async fn sign(&self, _: &Method, _: &mut Uri, headers: &mut HeaderMap, _: &RequestBody) -> Result<()> {
        if let Some(h) = &self.header {
            headers.insert(http::header::AUTHORIZATION, h.clone());
        }
        Ok(())
    }
}

/// How many times a `423 Locked` answer is waited out.
const LOCKED_RETRIES: u32 = 8;

/// The WebDAV methods beyond HTTP's.
pub(crate) fn method(name: &'static str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::GET)
}

/// A request before it is sent: what the driver's operations build.
pub(crate) struct Call {
    pub(crate) op: &'static str,
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: RequestBody,
    pub(crate) idempotent: bool,
}

impl Call {
    pub(crate) fn new(op: &'static str, method: Method, url: String) -> Self {
        let idempotent = !matches!(method.as_str(), "POST" | "MOVE" | "COPY");
        Call { op, method, url, headers: HeaderMap::new(), body: RequestBody::Empty, idempotent }
    }
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Self> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::new(ErrorKind::InvalidObjectName, format!("the value of header {name} cannot be sent"))
        })?;
        self.headers.insert(name, v);
        Ok(self)
    }
    pub(crate) fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }
    pub(crate) fn idempotent(mut self, i: bool) -> Self {
        self.idempotent = i;
        self
    }
}

/// PROPFIND's `Depth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    Zero,
    One,
}

/// Whether the PROPFIND entry `r` names the resource at `path` (decoded; a trailing `/`
/// does not matter).
pub(crate) fn names(r: &Resource, path: &str) -> bool {
    let target = path.trim_end_matches('/');
    href_path(&r.href, path).is_some_and(|p| p.trim_end_matches('/') == target)
}

/// Shared state of one driver.
pub(crate) struct Client {
    pub(crate) config: WebDavConfig,
    pub(crate) http: HttpClient,
    pub(crate) endpoint: Endpoint,
    pub(crate) signer: Arc<AuthSigner>,
}

impl Client {
    pub(crate) fn new(config: WebDavConfig) -> Result<Self> {
        let endpoint = Endpoint::new(&config)?;
        let signer = Arc::new(AuthSigner::new(&config.credentials)?);
        let http = HttpClient::new(config.http.clone())?;
        Ok(Client { config, http, endpoint, signer })
    }

    /// Builds the HTTP request of `call`.
    pub(crate) fn request(&self, call: &Call) -> Result<HttpRequest> {
        let uri: Uri = call.url.parse().map_err(|e| {
            Error::new(ErrorKind::InvalidObjectName, format!("the request URL cannot be built for this name: {e}"))
        })?;
        let mut req = HttpRequest::new(call.method.clone(), uri, call.op).idempotent(call.idempotent);
        req.headers = call.headers.clone();
        req.body = call.body.clone();
        Ok(req)
    }

    /// Sends `call` and returns the answer whatever its status (errors are transport
    /// failures only). A `423 Locked` is waited out a few times: rclone (Go's WebDAV
    /// handler) locks a resource for the time of each write, so concurrent writers of
    /// one key meet 423 where other servers queue them; the server did nothing, so even
    /// a MOVE may be sent again.
    pub(crate) async fn execute(&self, call: &Call) -> Result<HttpResponse> {
        let req = self.request(call)?;
        let mut attempt = 0;
        loop {
            let resp = self.http.execute(&req, self.signer.as_ref()).await?;
            if resp.status.as_u16() != 423 || attempt >= LOCKED_RETRIES || !req.body.is_replayable() {
                return Ok(resp);
            }
            let wait = storage_core::kit::full_jitter(
                std::time::Duration::from_millis(20),
                std::time::Duration::from_millis(500),
                attempt,
            );
            tracing::debug!(op = call.op, wait_ms = wait.as_millis() as u64, "423 Locked: waiting");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Sends `call`; a 2xx answer is returned, any other becomes a typed error.
    pub(crate) async fn send(&self, call: Call) -> Result<HttpResponse> {
        let resp = self.execute(&call).await?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        Err(crate::errors::from_response(resp, call.op).await)
    }

    /// PROPFIND of `url` with `depth`: the resources the answer lists (the target first,
    /// as servers send it), or `None` when there is nothing there (404). A redirect (a
    /// server insisting on a trailing `/` for collections) is followed once. An answer
    /// cut short is asked for again: Apache breaks off a multistatus when the
    /// collection is deleted while it streams it (the next answer is then a 404).
    pub(crate) async fn propfind(&self, url: &str, depth: Depth) -> Result<Option<Vec<Resource>>> {
        let mut url = url.to_owned();
        let mut last = None;
        for _ in 0..4 {
            let call = Call::new("PROPFIND", method("PROPFIND"), url.clone())
                .header("depth", if depth == Depth::Zero { "0" } else { "1" })?
                .header("content-type", "application/xml; charset=utf-8")?
                .body(RequestBody::Bytes(PROPFIND_BODY.into()));
            let resp = self.execute(&call).await?;
            match resp.status.as_u16() {
                207 | 200 => match resp.bytes().await.and_then(|body| parse_multistatus(&body)) {
                    Ok(found) => return Ok(Some(found)),
                    Err(e) if e.kind() == ErrorKind::Io => {
                        last = Some(e);
                    }
                    Err(e) => return Err(e),
                },
                404 | 410 => return Ok(None),
                301 | 302 | 307 | 308 if !url.ends_with('/') => url.push('/'),
                _ => return Err(crate::errors::from_response(resp, "PROPFIND").await),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::Backend, "the server redirected PROPFIND more than once")))
    }

    /// The resource PROPFIND (depth 0) finds at `url`, or `None` when nothing is there.
    pub(crate) async fn stat(&self, url: &str, path: &str) -> Result<Option<Resource>> {
        let Some(found) = self.propfind(url, Depth::Zero).await? else { return Ok(None) };
        let matching = found.iter().position(|r| names(r, path));
        // A server that names the target differently (a rewritten path) still answers
        // for it first.
        Ok(found.into_iter().nth(matching.unwrap_or(0)))
    }

    /// The direct children of the collection at `dir_path` (decoded, ending in `/`)
    /// among PROPFIND's `resources`: `(name, is_collection, resource)`. A server behind a
    /// proxy that rewrites paths names the collection differently; then its first entry
    /// (servers list the collection itself first) gives the path its children are under.
    pub(crate) fn children(dir_path: &str, resources: Vec<Resource>) -> Vec<(String, bool, Resource)> {
        let base = match resources.first() {
            Some(first) if first.collection && !resources.iter().any(|r| names(r, dir_path)) => {
                href_path(&first.href, dir_path)
                    .map_or_else(|| dir_path.to_owned(), |p| format!("{}/", p.trim_end_matches('/')))
            }
            _ => dir_path.to_owned(),
        };
        resources
            .into_iter()
            .filter(|r| r.status.is_none_or(|s| (200..300).contains(&s)))
            .filter_map(|r| {
                let path = href_path(&r.href, &base)?;
                let (name, slash) = child_name(&base, &path)?;
                let name = name.to_owned();
                let collection = r.collection || slash;
                Some((name, collection, r))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(href: &str, collection: bool) -> Resource {
        Resource { href: href.to_owned(), collection, ..Resource::default() }
    }

    #[test]
    fn children_of_a_collection_whatever_the_hrefs() {
        let names = |dir: &str, rs: Vec<Resource>| -> Vec<(String, bool)> {
            Client::children(dir, rs).into_iter().map(|(n, c, _)| (n, c)).collect()
        };
        let plain = vec![res("/dav/c/d/", true), res("/dav/c/d/f", false), res("http://h/dav/c/d/s/", true)];
        assert_eq!(names("/dav/c/d/", plain), [("f".to_owned(), false), ("s".to_owned(), true)]);
        // Behind a proxy that strips `/dav`: the first entry is the collection itself.
        let rewritten = vec![res("/c/d/", true), res("/c/d/f", false), res("/c/other", false)];
        assert_eq!(names("/dav/c/d/", rewritten), [("f".to_owned(), false)]);
        // Entries that are only a status (404) are not children.
        let mut gone = res("/dav/c/d/x", false);
        gone.status = Some(404);
        assert!(names("/dav/c/d/", vec![res("/dav/c/d/", true), gone]).is_empty());
    }

    #[test]
    fn urls_of_containers_keys_and_collections() {
        let ep = Endpoint::new(&WebDavConfig::new("https://h:8443/my%20dav/")).unwrap();
        assert_eq!(ep.root_url(), "https://h:8443/my%20dav/");
        assert_eq!(ep.container_url("c 1"), "https://h:8443/my%20dav/c%201");
        assert_eq!(ep.key_url("c", "a b/ü?#"), "https://h:8443/my%20dav/c/a%20b/%C3%BC%3F%23");
        assert_eq!(ep.key_url("c", "dir/"), "https://h:8443/my%20dav/c/dir");
        assert_eq!(ep.key_url("c", ""), "https://h:8443/my%20dav/c");
        assert_eq!(ep.dir_path("c", "dir/"), "/my dav/c/dir/");
        assert_eq!(ep.root_path(), "/my dav/");
    }
}
