//! Fault injection against an in-process Google Cloud Storage JSON API (a small object
//! store with generations, MD5 and CRC32C, multipart/related and resumable uploads,
//! compose, written here over a tokio `TcpListener` with hand-written HTTP/1.1 answers),
//! proving nothing is lost, duplicated or torn: 429/503 storms are ridden out by retries
//! where GCS's idempotency rules allow them, or end in typed, retryable errors carrying
//! the JSON error's reason; a reset or a body cut short mid-download resumes with a
//! `Range` pinned to the generation first read and yields exactly the object's bytes, or
//! a typed error, never mixed data; a resumable upload interrupted mid-chunk asks the
//! session how far it got and sends only the rest; a composite upload whose part keeps
//! failing composes nothing and leaves no staged part behind; errors and Debug output
//! never carry the bearer token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use storage_core::kit::{crc32c, md5_hex};
use storage_core::{
    Driver, DriverExt, Error, ErrorKind, GetOptions, Payload, PutMode, PutOptions, Transfer, TransferOptions,
};
use storage_gcs::{GcsConfig, GcsCredentials, GcsDriver};
use storage_http::{HttpConfig, RetryConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const BUCKET: &str = "data";
const OBJECT: &str = "dir/object.bin";
/// The object's path in the JSON API (its name is one encoded segment).
const OBJECT_PATH: &str = "/storage/v1/b/data/o/dir%2Fobject.bin";
/// Where objects are listed.
const LIST_PATH: &str = "/storage/v1/b/data/o";
/// Where uploads go.
const UPLOAD_PATH: &str = "/upload/storage/v1/b/data/o";
/// The bearer token every request must carry.
const TOKEN: &str = "ya29.fault-injection-secret-token";
const MIB: usize = 1024 * 1024;
/// The driver's resumable chunk.
const CHUNK: usize = 8 * MIB;
/// GCS persists resumable uploads in multiples of this.
const QUANTUM: usize = 256 * 1024;
const TIME: &str = "2024-05-06T07:08:09.123Z";
const LAST_MODIFIED: &str = "Mon, 06 May 2024 07:08:09 GMT";

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    /// The path as sent (encoded).
    path: String,
    /// The raw query string.
    query: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
        })
    }

    /// `GET` of the object's metadata.
    fn is_meta_get(&self) -> bool {
        self.method == "GET" && self.path == OBJECT_PATH && self.param("alt").is_none()
    }

    /// `GET ?alt=media` of the object.
    fn is_media_get(&self) -> bool {
        self.method == "GET" && self.path == OBJECT_PATH && self.param("alt").as_deref() == Some("media")
    }

    /// The name a `multipart/related` upload writes.
    fn insert_name(&self) -> Option<String> {
        if self.method != "POST" || self.path != UPLOAD_PATH || self.param("uploadType").as_deref() != Some("multipart")
        {
            return None;
        }
        let (resource, _) = related_parts(self)?;
        resource["name"].as_str().map(str::to_owned)
    }

    /// A `multipart/related` upload of the object.
    fn is_insert(&self) -> bool {
        self.insert_name().as_deref() == Some(OBJECT)
    }

    /// The start of a resumable upload.
    fn is_start(&self) -> bool {
        self.method == "POST" && self.path == UPLOAD_PATH && self.param("uploadType").as_deref() == Some("resumable")
    }

    /// A `PUT` to a resumable session (a chunk or a status query).
    fn is_chunk(&self) -> bool {
        self.method == "PUT" && self.path == UPLOAD_PATH && self.param("upload_id").is_some()
    }

    /// A `PUT` to a session without data: `bytes */*` or `bytes */TOTAL`.
    fn is_status_query(&self) -> bool {
        self.is_chunk() && self.content_range().starts_with("bytes */")
    }

    /// A chunk `PUT` with data.
    fn is_data_chunk(&self) -> bool {
        self.is_chunk() && !self.is_status_query()
    }

    fn content_range(&self) -> &str {
        self.header("content-range").unwrap_or("")
    }

    /// The part number of a staged part's upload (`.storage-rs-parts/{tag}/{n:05}`).
    fn part(&self) -> Option<u32> {
        let name = self.insert_name()?;
        name.strip_prefix(".storage-rs-parts/")?.rsplit_once('/')?.1.parse().ok()
    }

    fn is_compose(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/compose")
    }

    fn is_delete(&self) -> bool {
        self.method == "DELETE"
    }
}

/// The JSON resource and the data of a `multipart/related` body.
fn related_parts(r: &Req) -> Option<(Value, Vec<u8>)> {
    let boundary = r.header("content-type")?.split("boundary=").nth(1)?.trim_matches('"').to_owned();
    let body = &r.body;
    let open = format!("--{boundary}\r\n");
    let head = find(body, open.as_bytes())? + open.len();
    let json_start = head + find(&body[head..], b"\r\n\r\n")? + 4;
    let between = format!("\r\n--{boundary}\r\n");
    let json_end = json_start + find(&body[json_start..], between.as_bytes())?;
    let resource: Value = serde_json::from_slice(&body[json_start..json_end]).ok()?;
    let second = json_end + between.len();
    let data_start = second + find(&body[second..], b"\r\n\r\n")? + 4;
    let close = format!("\r\n--{boundary}--");
    let data_end = body.windows(close.len()).rposition(|w| w == close.as_bytes())?;
    (data_end >= data_start).then(|| (resource, body[data_start..data_end].to_vec()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `bytes A-B/TOTAL`, `bytes A-B/*`, `bytes */TOTAL`, `bytes */*`: the span and the total.
type Span = (Option<(u64, u64)>, Option<u64>);

fn parse_content_range(v: &str) -> Option<Span> {
    let (span, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let total = if total == "*" { None } else { Some(total.parse().ok()?) };
    let span = if span == "*" {
        None
    } else {
        let (a, b) = span.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    Some((span, total))
}

/// An answer; the server adds `Content-Length` (the body's, unless given),
/// `x-guploader-uploadid: rid-N` (N: the request's number, from 1) and
/// `Connection: close`.
#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn new(status: u16) -> Self {
        Resp { status, headers: Vec::new(), body: Vec::new() }
    }

    fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_owned(), v.into()));
        self
    }

    fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    fn json(status: u16, v: &Value) -> Self {
        Resp::new(status).header("content-type", "application/json; charset=UTF-8").body(v.to_string().as_bytes())
    }

    /// A JSON API error, as GCS words them.
    fn error(status: u16, reason: &str, message: &str) -> Self {
        let v = json!({"error": {"code": status, "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}]}});
        Resp::json(status, &v)
    }

    /// The bytes on the wire, with only the first `keep` bytes of the body (all when
    /// `None`) under the full Content-Length.
    fn wire(&self, request_id: &str, keep: Option<usize>) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            204 => "No Content",
            206 => "Partial Content",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            410 => "Gone",
            412 => "Precondition Failed",
            416 => "Range Not Satisfiable",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Whatever",
        };
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if !self.headers.iter().any(|(k, _)| k == "content-length") {
            out.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        out.push_str(&format!("x-guploader-uploadid: {request_id}\r\nconnection: close\r\n\r\n"));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body[..keep.unwrap_or(self.body.len()).min(self.body.len())]);
        bytes
    }
}

/// What the server does with one request.
enum Act {
    /// Send this answer, then close.
    Send(Resp),
    /// Send the answer's head and only the first `n` bytes of its body, then close
    /// cleanly: a download cut short.
    Cut(Resp, usize),
    /// Send the head and the first `n` bytes of the body, wait for the test's signal,
    /// then abort the connection (TCP RST): a connection reset mid-body.
    CutThenReset(Resp, usize, Arc<Notify>),
    /// Close without answering.
    Close,
    /// Abort the connection (TCP RST) without answering.
    Reset,
}

#[derive(Debug, Clone)]
struct Obj {
    data: Vec<u8>,
    generation: u64,
    content_type: String,
    metadata: BTreeMap<String, String>,
    /// Composed: no MD5, a component count.
    composite: bool,
}

struct Session {
    /// The object resource given when the session started.
    resource: Value,
    /// `ifGenerationMatch` of the start.
    condition: Option<u64>,
    /// The bytes persisted so far.
    data: Vec<u8>,
    /// The object's resource once finalized.
    done: Option<Value>,
}

/// The service's state, and every request received, in order.
struct Store {
    port: u16,
    log: Vec<Req>,
    objects: BTreeMap<String, Obj>,
    sessions: HashMap<String, Session>,
    /// Sessions that expired (410 Gone).
    expired: HashSet<String>,
    /// The names of every object write, in order (uploads, finalizations, composes).
    writes: Vec<String>,
    generation: u64,
}

fn b64(raw: &[u8]) -> String {
    B64.encode(raw)
}

fn md5_b64(data: &[u8]) -> String {
    b64(&hex::decode(md5_hex(data)).unwrap())
}

fn crc_b64(data: &[u8]) -> String {
    b64(&crc32c(data).to_be_bytes())
}

fn not_found(name: &str) -> Resp {
    Resp::error(404, "notFound", &format!("No such object: {BUCKET}/{name}"))
}

fn condition_not_met() -> Resp {
    Resp::error(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")
}

impl Store {
    fn new(port: u16) -> Self {
        Store {
            port,
            log: Vec::new(),
            objects: BTreeMap::new(),
            sessions: HashMap::new(),
            expired: HashSet::new(),
            writes: Vec::new(),
            generation: 1_714_979_289_123_000,
        }
    }

    fn count(&self, f: impl Fn(&Req) -> bool) -> usize {
        self.log.iter().filter(|r| f(r)).count()
    }

    /// Stores `data` as `name` (a new generation) with the content type and metadata of
    /// `resource`; the new resource.
    fn write(&mut self, name: &str, data: Vec<u8>, resource: &Value, composite: bool) -> Value {
        self.generation += 1;
        let metadata = resource["metadata"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        let content_type = resource["contentType"].as_str().unwrap_or("application/octet-stream").to_owned();
        let o = Obj { data, generation: self.generation, content_type, metadata, composite };
        self.objects.insert(name.to_owned(), o);
        self.writes.push(name.to_owned());
        self.resource(name)
    }

    fn resource(&self, name: &str) -> Value {
        let o = &self.objects[name];
        let mut v = json!({
            "kind": "storage#object",
            "id": format!("{BUCKET}/{name}/{}", o.generation),
            "name": name,
            "bucket": BUCKET,
            "generation": o.generation.to_string(),
            "metageneration": "1",
            "contentType": o.content_type,
            "size": o.data.len().to_string(),
            "crc32c": crc_b64(&o.data),
            "etag": etag(o),
            "timeCreated": TIME,
            "updated": TIME,
            "storageClass": "STANDARD",
        });
        if o.composite {
            v["componentCount"] = json!(2);
        } else {
            v["md5Hash"] = json!(md5_b64(&o.data));
        }
        if !o.metadata.is_empty() {
            v["metadata"] = json!(o.metadata);
        }
        v
    }

    /// `ifGenerationMatch`: the object's generation must be it (0: must not exist).
    fn check_generation(&self, name: &str, want: Option<u64>) -> Option<Resp> {
        let current = self.objects.get(name).map_or(0, |o| o.generation);
        want.filter(|w| *w != current).map(|_| condition_not_met())
    }

    /// The service's answer to `r` (state changes included).
    fn handle(&mut self, r: &Req) -> Resp {
        if r.header("authorization") != Some(format!("Bearer {TOKEN}").as_str()) {
            return Resp::error(401, "authError", "Invalid Credentials");
        }
        let path = r.path.as_str();
        let method = r.method.as_str();
        if path == UPLOAD_PATH {
            return match (method, r.param("uploadType").as_deref()) {
                ("POST", Some("multipart")) => self.insert(r),
                ("POST", Some("resumable")) => self.start(r),
                ("PUT", _) if r.param("upload_id").is_some() => self.chunk(r),
                _ => Resp::error(400, "invalid", "not in this fake"),
            };
        }
        if path == "/storage/v1/b/data" && method == "GET" {
            return Resp::json(200, &json!({"kind": "storage#bucket", "name": BUCKET, "location": "US"}));
        }
        if path == LIST_PATH && method == "GET" {
            return self.list(r);
        }
        let Some(rest) = path.strip_prefix("/storage/v1/b/data/o/") else {
            return Resp::error(404, "notFound", "The specified bucket does not exist.");
        };
        let (encoded, suffix) = match rest.split_once('/') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let name = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy().into_owned();
        match (method, suffix) {
            ("GET", None) if r.param("alt").as_deref() == Some("media") => self.media(r, &name),
            ("GET", None) => match self.objects.get(&name) {
                Some(_) => Resp::json(200, &self.resource(&name)),
                None => not_found(&name),
            },
            ("DELETE", None) => match self.objects.remove(&name) {
                Some(_) => Resp::new(204),
                None => not_found(&name),
            },
            ("POST", Some("compose")) => self.compose(r, &name),
            _ => Resp::error(400, "invalid", "not in this fake"),
        }
    }

    fn list(&self, r: &Req) -> Resp {
        let prefix = r.param("prefix").unwrap_or_default();
        let items: Vec<Value> =
            self.objects.keys().filter(|n| n.starts_with(&prefix)).map(|n| self.resource(n)).collect();
        Resp::json(200, &json!({"kind": "storage#objects", "items": items}))
    }

    fn media(&self, r: &Req, name: &str) -> Resp {
        let Some(o) = self.objects.get(name) else { return not_found(name) };
        // A generation that is no longer current is gone (the bucket keeps no versions).
        if r.param("generation").is_some_and(|g| g != o.generation.to_string()) {
            return not_found(name);
        }
        let total = o.data.len();
        let whole = media_headers(Resp::new(200), o);
        let Some(spec) = r.header("range") else { return whole.body(&o.data) };
        let (s, e) = spec.strip_prefix("bytes=").and_then(|s| s.split_once('-')).unwrap();
        let (start, end) = if s.is_empty() {
            (total.saturating_sub(e.parse().unwrap()), total - 1)
        } else {
            let end = if e.is_empty() { total - 1 } else { e.parse::<usize>().unwrap().min(total - 1) };
            (s.parse().unwrap(), end)
        };
        if start >= total {
            return Resp::error(416, "requestedRangeNotSatisfiable", "The requested range cannot be satisfied.");
        }
        let mut partial = whole.header("content-range", format!("bytes {start}-{end}/{total}"));
        partial.status = 206;
        partial.body(&o.data[start..=end])
    }

    /// Checks the checksums a write's resource carries against the data.
    fn check_hashes(resource: &Value, data: &[u8]) -> Option<Resp> {
        if let Some(c) = resource["crc32c"].as_str()
            && c != crc_b64(data)
        {
            let msg = format!("Provided CRC32C \"{c}\" doesn't match calculated CRC32C \"{}\".", crc_b64(data));
            return Some(Resp::error(400, "invalid", &msg));
        }
        if let Some(m) = resource["md5Hash"].as_str()
            && m != md5_b64(data)
        {
            let msg = format!("Provided MD5 hash \"{m}\" doesn't match calculated MD5 hash \"{}\".", md5_b64(data));
            return Some(Resp::error(400, "invalid", &msg));
        }
        None
    }

    fn insert(&mut self, r: &Req) -> Resp {
        let Some((resource, data)) = related_parts(r) else {
            return Resp::error(400, "invalid", "the multipart/related body is malformed");
        };
        let name = resource["name"].as_str().unwrap_or_default().to_owned();
        let condition = r.param("ifGenerationMatch").map(|g| g.parse().unwrap());
        if let Some(e) = self.check_generation(&name, condition).or_else(|| Self::check_hashes(&resource, &data)) {
            return e;
        }
        Resp::json(200, &self.write(&name, data, &resource, false))
    }

    fn start(&mut self, r: &Req) -> Resp {
        let resource: Value = serde_json::from_slice(&r.body).unwrap();
        let name = resource["name"].as_str().unwrap_or_default().to_owned();
        let condition = r.param("ifGenerationMatch").map(|g| g.parse().unwrap());
        if let Some(e) = self.check_generation(&name, condition) {
            return e;
        }
        let id = format!("session-{}", self.sessions.len() + self.expired.len() + 1);
        self.sessions.insert(id.clone(), Session { resource, condition, data: Vec::new(), done: None });
        let location =
            format!("http://127.0.0.1:{}{UPLOAD_PATH}?uploadType=resumable&name=ignored&upload_id={id}", self.port);
        Resp::new(200).header("location", location)
    }

    /// Persists `data` at offset `at` of session `id` (bytes it already has are
    /// skipped, as GCS does); refuses a gap.
    fn append(&mut self, id: &str, at: u64, data: &[u8]) -> Result<(), Resp> {
        let s = self.sessions.get_mut(id).unwrap();
        let have = s.data.len() as u64;
        if at > have {
            return Err(Resp::error(
                400,
                "badRequest",
                &format!("the session has {have} bytes; a chunk at {at} would leave a gap"),
            ));
        }
        let skip = usize::try_from(have - at).unwrap();
        if skip < data.len() {
            s.data.extend_from_slice(&data[skip..]);
        }
        Ok(())
    }

    /// Persists the first `keep` bytes of the chunk `r` carries (a server that took part
    /// of a chunk before the connection broke); the 308 it would answer.
    fn persist(&mut self, r: &Req, keep: usize) -> Resp {
        let id = r.param("upload_id").unwrap();
        let (Some((at, _)), _) = parse_content_range(r.content_range()).unwrap() else { panic!("not a data chunk") };
        self.append(&id, at, &r.body[..keep]).unwrap();
        self.incomplete(&id)
    }

    /// 308 with the persisted range (no `Range` when nothing is).
    fn incomplete(&self, id: &str) -> Resp {
        let have = self.sessions[id].data.len();
        let resp = Resp::new(308);
        if have == 0 { resp } else { resp.header("range", format!("bytes=0-{}", have - 1)) }
    }

    fn chunk(&mut self, r: &Req) -> Resp {
        let id = r.param("upload_id").unwrap();
        if self.expired.contains(&id) {
            return Resp::error(410, "gone", "The upload session has expired.");
        }
        let Some(s) = self.sessions.get(&id) else {
            return Resp::error(404, "notFound", "No such upload session.");
        };
        if let Some(done) = &s.done {
            return Resp::json(200, &done.clone());
        }
        let Some((span, total)) = parse_content_range(r.content_range()) else {
            return Resp::error(400, "badRequest", "Failed to parse Content-Range header.");
        };
        if let Some((a, b)) = span {
            if b + 1 - a != r.body.len() as u64 {
                return Resp::error(400, "badRequest", "the Content-Range does not match the body's length");
            }
            if total.is_none() && !r.body.len().is_multiple_of(QUANTUM) {
                return Resp::error(400, "badRequest", "a chunk that is not the last must be a multiple of 256 KiB");
            }
            if let Err(e) = self.append(&id, a, &r.body) {
                return e;
            }
        } else if !r.body.is_empty() {
            return Resp::error(400, "badRequest", "a status query has no body");
        }
        let have = self.sessions[&id].data.len() as u64;
        match total {
            Some(t) if have == t => self.finalize(&id),
            Some(t) if have > t => Resp::error(400, "badRequest", "the session has more bytes than the total"),
            _ => self.incomplete(&id),
        }
    }

    fn finalize(&mut self, id: &str) -> Resp {
        let s = &self.sessions[id];
        let (resource, condition, data) = (s.resource.clone(), s.condition, s.data.clone());
        let name = resource["name"].as_str().unwrap_or_default().to_owned();
        if let Some(e) = self.check_generation(&name, condition).or_else(|| Self::check_hashes(&resource, &data)) {
            return e;
        }
        let written = self.write(&name, data, &resource, false);
        self.sessions.get_mut(id).unwrap().done = Some(written.clone());
        Resp::json(200, &written)
    }

    fn compose(&mut self, r: &Req, dest: &str) -> Resp {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let mut data = Vec::new();
        for source in body["sourceObjects"].as_array().unwrap() {
            let name = source["name"].as_str().unwrap();
            match self.objects.get(name) {
                Some(o) => data.extend_from_slice(&o.data),
                None => return not_found(name),
            }
        }
        let condition = r.param("ifGenerationMatch").map(|g| g.parse().unwrap());
        if let Some(e) = self.check_generation(dest, condition) {
            return e;
        }
        Resp::json(200, &self.write(dest, data, &body["destination"], true))
    }
}

fn etag(o: &Obj) -> String {
    b64(format!("CK{}EAE", o.generation).as_bytes())
}

/// The headers of a media download of `o` (whole or ranged).
fn media_headers(resp: Resp, o: &Obj) -> Resp {
    let mut resp = resp
        .header("content-type", o.content_type.clone())
        .header("etag", format!("\"{}\"", etag(o)))
        .header("last-modified", LAST_MODIFIED)
        .header("x-goog-generation", o.generation.to_string())
        .header("x-goog-metageneration", "1")
        .header("x-goog-stored-content-length", o.data.len().to_string())
        .header("x-goog-hash", format!("crc32c={}", crc_b64(&o.data)));
    if !o.composite {
        resp = resp.header("x-goog-hash", format!("md5={}", md5_b64(&o.data)));
    }
    for (k, v) in &o.metadata {
        resp = resp.header(&format!("x-goog-meta-{k}"), v.clone());
    }
    resp
}

type Fault = dyn Fn(&Req, &mut Store) -> Option<Act> + Send + Sync;

/// The in-process server: each request is logged, then offered to the fault, which may
/// answer it (looking at or changing the store); otherwise the store answers.
struct Fake {
    port: u16,
    store: Arc<Mutex<Store>>,
}

impl Fake {
    async fn start(fault: impl Fn(&Req, &mut Store) -> Option<Act> + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(Mutex::new(Store::new(port)));
        let fault: Arc<Fault> = Arc::new(fault);
        let shared = store.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                tokio::spawn(serve_one(sock, shared.clone(), fault.clone()));
            }
        });
        Fake { port, store }
    }

    /// A server without faults.
    async fn plain() -> Fake {
        Fake::start(|_, _| None).await
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn config(&self, retries: u32) -> GcsConfig {
        GcsConfig::new().endpoint(self.endpoint()).credentials(GcsCredentials::bearer(TOKEN)).http(http(retries))
    }

    /// A driver with the bearer token and `retries` retries, backoffs of a millisecond.
    fn driver(&self, retries: u32) -> GcsDriver {
        GcsDriver::new(self.config(retries)).unwrap()
    }

    fn requests(&self) -> Vec<Req> {
        self.store.lock().unwrap().log.clone()
    }

    fn requests_where(&self, f: impl Fn(&Req) -> bool) -> Vec<Req> {
        self.store.lock().unwrap().log.iter().filter(|r| f(r)).cloned().collect()
    }

    fn count(&self, f: impl Fn(&Req) -> bool) -> usize {
        self.store.lock().unwrap().count(f)
    }

    fn object(&self) -> Option<Obj> {
        self.store.lock().unwrap().objects.get(OBJECT).cloned()
    }

    /// Every object's name.
    fn names(&self) -> Vec<String> {
        self.store.lock().unwrap().objects.keys().cloned().collect()
    }

    /// The names of every object write, in order.
    fn writes(&self) -> Vec<String> {
        self.store.lock().unwrap().writes.clone()
    }

    /// Stores `data` as the object; its generation.
    fn seed(&self, data: &[u8]) -> u64 {
        let mut s = self.store.lock().unwrap();
        s.write(OBJECT, data.to_vec(), &json!({}), false);
        s.writes.clear();
        s.objects[OBJECT].generation
    }

    /// The Content-Range of every `PUT` to a session, in order.
    fn session_puts(&self) -> Vec<String> {
        self.requests_where(Req::is_chunk).iter().map(|r| r.content_range().to_owned()).collect()
    }
}

fn http(retries: u32) -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(5),
        read_idle_timeout: Duration::from_secs(20),
        retry: RetryConfig {
            max_retries: retries,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            retry_budget: Duration::from_secs(120),
        },
        proxy_from_env: false,
        ..HttpConfig::default()
    }
}

async fn read_request(sock: &mut TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Req { method, path: path.to_owned(), query: query.to_owned(), headers, body })
}

async fn serve_one(mut sock: TcpStream, store: Arc<Mutex<Store>>, fault: Arc<Fault>) {
    let Some(req) = read_request(&mut sock).await else { return };
    let (n, act) = {
        let mut store = store.lock().unwrap();
        store.log.push(req.clone());
        let n = store.log.len();
        let act = match fault(&req, &mut store) {
            Some(act) => act,
            None => Act::Send(store.handle(&req)),
        };
        (n, act)
    };
    let rid = format!("rid-{n}");
    match act {
        Act::Send(resp) => {
            let _ = sock.write_all(&resp.wire(&rid, None)).await;
            let _ = sock.shutdown().await;
        }
        Act::Cut(resp, keep) => {
            let _ = sock.write_all(&resp.wire(&rid, Some(keep))).await;
            let _ = sock.shutdown().await;
        }
        Act::CutThenReset(resp, keep, signal) => {
            let _ = sock.write_all(&resp.wire(&rid, Some(keep))).await;
            let _ = sock.flush().await;
            signal.notified().await;
            sock.set_zero_linger().unwrap();
            drop(sock);
        }
        Act::Close => drop(sock),
        Act::Reset => {
            sock.set_zero_linger().unwrap();
            drop(sock);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Test data: `n` bytes, not periodic in powers of two; `salt` makes another version.
fn data(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 251) as u8 ^ salt).collect()
}

/// Asserts two (possibly large) byte strings are equal without printing them.
#[track_caller]
fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: {} bytes where {} were expected, first difference at {at}", got.len(), want.len());
    }
}

/// Reads a GET body to its end: the bytes received, and the error that ended it.
async fn drain(mut body: storage_core::ByteStream) -> (Vec<u8>, Option<Error>) {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => out.extend_from_slice(&c),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// `payload` as a stream of unknown length, in pieces of 64 KiB (what goes through a
/// resumable session).
fn unknown_length(payload: &[u8]) -> Payload {
    let pieces: Vec<storage_core::Result<Bytes>> =
        payload.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Payload::stream(futures::stream::iter(pieces).boxed(), None)
}

fn rate_limited() -> Resp {
    Resp::error(
        429,
        "rateLimitExceeded",
        "The rate of change requests to the object data/dir/object.bin exceeds the rate limit. Please reduce the \
         rate of create, update, and delete requests.",
    )
}

fn unavailable() -> Resp {
    Resp::error(503, "backendError", "We encountered an internal error. Please try again.")
}

fn internal() -> Resp {
    Resp::error(500, "internalError", "Internal Error")
}

/// A transfer engine over `driver` that uploads anything above 1 KiB as composed 1 KiB
/// parts, one at a time (so no part is in flight when another fails).
fn small_parts(driver: GcsDriver) -> Transfer {
    let options =
        TransferOptions { single_put_threshold: 1024, part_size: 1024, concurrency: 1, ..TransferOptions::default() };
    Transfer::with_options(Arc::new(driver), options)
}

fn staged(fake: &Fake) -> Vec<String> {
    fake.names().into_iter().filter(|n| n.starts_with(".storage-rs-parts/")).collect()
}

// ---------------------------------------------------------------------------------------
// 429 and 503 storms
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn storms_on_metadata_media_and_a_conditional_upload_are_ridden_out_by_retries() {
    let fake = Fake::start(|r, store| {
        if r.is_meta_get() && store.count(Req::is_meta_get) <= 3 {
            return Some(Act::Send(rate_limited()));
        }
        if r.is_media_get() && store.count(Req::is_media_get) <= 4 {
            return Some(Act::Send(unavailable()));
        }
        let inserts = store.count(Req::is_insert);
        if r.is_insert() && inserts <= 3 {
            return Some(Act::Send(if inserts % 2 == 1 { unavailable() } else { rate_limited() }));
        }
        None
    })
    .await;
    let d = fake.driver(5);
    let payload = data(3000, 0);
    let absent = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
    let put = d.put_object(BUCKET, OBJECT, Payload::Bytes(payload.clone().into()), &absent).await.unwrap();
    let inserts = fake.requests_where(Req::is_insert);
    assert_eq!(inserts.len(), 4, "503, 429, 503, then the write");
    for i in &inserts {
        assert_eq!(i.param("ifGenerationMatch").as_deref(), Some("0"), "every attempt carries the condition");
        assert_eq!(related_parts(i).unwrap().1, payload, "every attempt carries the whole payload");
    }
    let stored = fake.object().unwrap();
    assert_eq!(stored.data, payload);
    assert_eq!(fake.writes(), [OBJECT], "written once");
    assert_eq!(put.version, Some(stored.generation.to_string()));
    assert_eq!(put.md5(), Some(md5_hex(&payload).as_str()));

    let head = d.head_object(BUCKET, OBJECT).await.unwrap();
    assert_eq!((head.size, head.version.clone()), (3000, Some(stored.generation.to_string())));
    assert_eq!(fake.count(Req::is_meta_get), 4, "3 rateLimitExceeded answers, then the metadata");

    assert_eq!(d.get_bytes(BUCKET, OBJECT).await.unwrap(), payload);
    assert_eq!(fake.count(Req::is_media_get), 5, "4 backendError answers, then the data");

    // If-match: the metadata gives the generation the upload is conditioned on.
    let next = data(2000, 1);
    let matching = PutOptions::default().with_mode(PutMode::IfMatch(put.etag.clone().unwrap()));
    d.put_object(BUCKET, OBJECT, Payload::Bytes(next.clone().into()), &matching).await.unwrap();
    let last = fake.requests_where(Req::is_insert).pop().unwrap();
    assert_eq!(last.param("ifGenerationMatch"), Some(stored.generation.to_string()));
    assert_eq!(fake.object().unwrap().data, next);
}

#[tokio::test]
async fn a_storm_longer_than_the_retries_is_a_typed_retryable_error_with_the_reason() {
    let fake = Fake::start(|r, _| {
        if r.is_meta_get() {
            return Some(Act::Send(rate_limited()));
        }
        (r.is_media_get() || r.is_insert()).then(|| Act::Send(unavailable()))
    })
    .await;
    let old = data(100, 1);
    let generation = fake.seed(&old);
    let d = fake.driver(3);

    let e = d.head_object(BUCKET, OBJECT).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert_eq!((e.status(), e.provider_code()), (Some(429), Some("rateLimitExceeded")), "{e}");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retries(), 3, "{e}");
    assert!(e.message().contains("exceeds the rate limit"), "the JSON error's message is kept: {e}");
    assert_eq!(fake.count(Req::is_meta_get), 4);
    assert_eq!(e.request_id(), Some(format!("rid-{}", fake.requests().len()).as_str()), "the last attempt's: {e}");
    assert_eq!((e.driver(), e.container(), e.key()), (Some("gcs"), Some(BUCKET), Some(OBJECT)), "{e}");

    let e = d.get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert_eq!((e.status(), e.provider_code(), e.retries()), (Some(503), Some("backendError"), 3), "{e}");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(fake.count(Req::is_media_get), 4);

    let absent = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
    let e = d.put_object(BUCKET, OBJECT, Payload::Bytes(data(500, 0).into()), &absent).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert_eq!((e.status(), e.provider_code(), e.retries()), (Some(503), Some("backendError"), 3), "{e}");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(fake.count(Req::is_insert), 4, "a conditional upload is retried");
    let o = fake.object().unwrap();
    assert_eq!((o.data, o.generation), (old, generation), "the object is untouched");
}

#[tokio::test]
async fn an_unconditional_upload_is_not_retried_and_the_error_says_so() {
    let fake = Fake::start(|r, _| r.is_insert().then(|| Act::Send(unavailable()))).await;
    let old = data(100, 1);
    fake.seed(&old);
    let d = fake.driver(5);
    let e =
        d.put_object(BUCKET, OBJECT, Payload::Bytes(data(500, 0).into()), &PutOptions::default()).await.unwrap_err();
    assert_eq!(fake.count(Req::is_insert), 1, "an insert without a precondition is not idempotent: sent once");
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert_eq!((e.status(), e.provider_code()), (Some(503), Some("backendError")), "{e}");
    assert_eq!(e.retries(), 0, "{e}");
    assert!(!e.to_string().contains("retries="), "no retry is claimed: {e}");
    assert!(e.is_retryable(), "the caller may send it again: {e}");
    assert!(e.hint().contains("not retried") && e.hint().contains("precondition"), "the hint says why: {e}");
    assert_eq!(fake.object().unwrap().data, old);

    // A 429 likewise.
    let fake = Fake::start(|r, _| r.is_insert().then(|| Act::Send(rate_limited()))).await;
    let e = fake
        .driver(5)
        .put_object(BUCKET, OBJECT, Payload::Bytes(data(500, 0).into()), &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.provider_code(), e.retries()), (ErrorKind::RateLimited, Some("rateLimitExceeded"), 0));
    assert_eq!(fake.count(Req::is_insert), 1);
    assert!(fake.object().is_none());
}

#[tokio::test]
async fn an_unconditional_object_delete_is_not_retried() {
    // GCS's rule: a delete without a generation could remove one written between two
    // attempts, so it is sent once.
    let fake = Fake::start(|r, _| (r.method == "DELETE").then(|| Act::Send(unavailable()))).await;
    fake.seed(&data(10, 1));
    let e = fake.driver(5).delete_object(BUCKET, OBJECT).await.unwrap_err();
    assert_eq!(fake.count(|r| r.method == "DELETE"), 1, "sent once");
    assert_eq!((e.status(), e.retries()), (Some(503), 0), "{e}");
    assert!(fake.object().is_some());
}

// ---------------------------------------------------------------------------------------
// Resets and truncated downloads
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_connection_dropped_before_the_answer_is_retried_whole() {
    let fake = Fake::start(|r, store| match (r.is_media_get(), store.count(Req::is_media_get)) {
        (true, 1) => Some(Act::Close),
        (true, 2) => Some(Act::Reset),
        _ => None,
    })
    .await;
    let payload = data(5000, 0);
    fake.seed(&payload);
    assert_eq!(fake.driver(3).get_bytes(BUCKET, OBJECT).await.unwrap(), payload);
    let gets = fake.requests_where(Req::is_media_get);
    assert_eq!(gets.len(), 3);
    assert!(gets.iter().all(|g| g.header("range").is_none()), "nothing was received, so nothing is resumed");
}

/// A media GET whose first answer is cut after `keep` body bytes.
fn cut_first_get(keep: usize) -> impl Fn(&Req, &mut Store) -> Option<Act> + Send + Sync + 'static {
    move |r, store| {
        if r.is_media_get() && store.count(Req::is_media_get) == 1 {
            return Some(Act::Cut(store.handle(r), keep));
        }
        None
    }
}

#[tokio::test]
async fn a_truncated_download_resumes_from_the_last_byte_pinned_to_the_generation() {
    let fake = Fake::start(cut_first_get(5000)).await;
    let payload = data(10_000, 0);
    let generation = fake.seed(&payload);
    let got = fake.driver(3).get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap();
    assert_eq!((got.range.clone(), got.object.size), (0..10_000, 10_000));
    assert_eq!(got.object.version, Some(generation.to_string()));
    let (bytes, err) = drain(got.body).await;
    assert!(err.is_none(), "{err:?}");
    assert_bytes(&bytes, &payload, "the download");
    let gets = fake.requests_where(Req::is_media_get);
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].param("generation"), None, "the first read takes the current generation");
    assert_eq!(gets[1].header("range"), Some("bytes=5000-9999"));
    assert_eq!(gets[1].param("generation"), Some(generation.to_string()), "the resume is pinned to it");
    assert_eq!(gets[1].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
}

#[tokio::test]
async fn a_truncated_ranged_download_resumes_at_the_right_absolute_offset() {
    let fake = Fake::start(cut_first_get(3000)).await;
    let payload = data(10_000, 0);
    let generation = fake.seed(&payload);
    let got = fake.driver(3).get_object(BUCKET, OBJECT, &GetOptions::range(1000..9000)).await.unwrap();
    assert_eq!(got.range, 1000..9000);
    let (bytes, err) = drain(got.body).await;
    assert!(err.is_none(), "{err:?}");
    assert_bytes(&bytes, &payload[1000..9000], "the range");
    let gets = fake.requests_where(Req::is_media_get);
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].header("range"), Some("bytes=1000-8999"));
    assert_eq!(gets[1].header("range"), Some("bytes=4000-8999"));
    assert_eq!(gets[1].param("generation"), Some(generation.to_string()));
}

#[tokio::test]
async fn a_connection_reset_mid_body_resumes_from_the_last_byte() {
    let signal = Arc::new(Notify::new());
    let reset = signal.clone();
    let fake = Fake::start(move |r, store| {
        (r.is_media_get() && store.count(Req::is_media_get) == 1)
            .then(|| Act::CutThenReset(store.handle(r), 6000, reset.clone()))
    })
    .await;
    let payload = data(20_000, 0);
    let generation = fake.seed(&payload);
    let got = fake.driver(3).get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap();
    let mut body = got.body;
    let mut bytes = Vec::new();
    // Take everything sent before the reset, then let the server reset the connection.
    while bytes.len() < 6000 {
        bytes.extend_from_slice(&body.next().await.unwrap().unwrap());
    }
    assert_eq!(bytes.len(), 6000);
    signal.notify_one();
    let (rest, err) = drain(body).await;
    assert!(err.is_none(), "{err:?}");
    bytes.extend_from_slice(&rest);
    assert_bytes(&bytes, &payload, "the download");
    let gets = fake.requests_where(Req::is_media_get);
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[1].header("range"), Some("bytes=6000-19999"));
    assert_eq!(gets[1].param("generation"), Some(generation.to_string()));
}

#[tokio::test]
async fn a_resume_that_meets_a_503_is_retried() {
    let fake = Fake::start(|r, store| match (r.is_media_get(), store.count(Req::is_media_get)) {
        (true, 1) => Some(Act::Cut(store.handle(r), 1234)),
        (true, 2) => Some(Act::Send(unavailable())),
        _ => None,
    })
    .await;
    let payload = data(4096, 0);
    let generation = fake.seed(&payload);
    assert_eq!(fake.driver(3).get_bytes(BUCKET, OBJECT).await.unwrap(), payload);
    let gets = fake.requests_where(Req::is_media_get);
    assert_eq!(gets.len(), 3);
    for g in &gets[1..] {
        assert_eq!(g.header("range"), Some("bytes=1234-4095"));
        assert_eq!(g.param("generation"), Some(generation.to_string()));
    }
}

#[tokio::test]
async fn a_body_that_keeps_breaking_ends_in_an_error_not_a_short_read() {
    // Every answer is cut after 500 bytes: the first GET and 5 resumes bring 3000 bytes.
    let fake = Fake::start(|r, store| r.is_media_get().then(|| Act::Cut(store.handle(r), 500))).await;
    let payload = data(10_000, 0);
    fake.seed(&payload);
    let got = fake.driver(3).get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap();
    let (bytes, err) = drain(got.body).await;
    let e = err.expect("a short body is an error");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert_eq!(bytes, &payload[..3000], "what was delivered is exactly the object's first bytes");
    assert_eq!(fake.count(Req::is_media_get), 6);
    assert_eq!(fake.driver(3).get_bytes(BUCKET, OBJECT).await.unwrap_err().kind(), ErrorKind::Io);
}

#[tokio::test]
async fn an_object_replaced_during_a_download_fails_typed_and_is_never_mixed() {
    // The first answer is cut; meanwhile the object is replaced, so its generation is gone.
    let fake = Fake::start(|r, store| {
        if r.is_media_get() && store.count(Req::is_media_get) == 1 {
            let first = store.handle(r);
            store.write(OBJECT, data(8000, 0x5a), &json!({}), false);
            return Some(Act::Cut(first, 3000));
        }
        None
    })
    .await;
    let old = data(8000, 0);
    let generation = fake.seed(&old);
    let got = fake.driver(3).get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap();
    let (bytes, err) = drain(got.body).await;
    let e = err.expect("the resume must fail");
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}");
    assert_eq!(e.status(), Some(404), "{e}");
    assert!(e.message().contains(&generation.to_string()), "it names the generation that is gone: {e}");
    assert_eq!((e.driver(), e.container(), e.key()), (Some("gcs"), Some(BUCKET), Some(OBJECT)), "{e}");
    assert_eq!(bytes, &old[..3000], "only the old generation's bytes were delivered");
    let gets = fake.requests_where(Req::is_media_get);
    assert_eq!(gets.len(), 2, "a 404 is not retried");
    assert_eq!(gets[1].param("generation"), Some(generation.to_string()));
    assert_eq!(gets[1].header("range"), Some("bytes=3000-7999"));
}

#[tokio::test]
async fn a_server_ignoring_the_resume_range_is_refused_not_mixed() {
    // The resume is answered with the whole new generation (200, no Content-Range).
    let fake = Fake::start(|r, store| match (r.is_media_get(), store.count(Req::is_media_get)) {
        (true, 1) => {
            let first = store.handle(r);
            store.write(OBJECT, data(8000, 0x5a), &json!({}), false);
            Some(Act::Cut(first, 3000))
        }
        (true, _) => {
            let o = store.objects[OBJECT].clone();
            Some(Act::Send(media_headers(Resp::new(200), &o).body(&o.data)))
        }
        _ => None,
    })
    .await;
    let old = data(8000, 0);
    fake.seed(&old);
    let got = fake.driver(3).get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap();
    let (bytes, err) = drain(got.body).await;
    assert!(err.is_some(), "a resume answered with another generation must fail");
    assert_eq!(bytes, &old[..3000]);
}

#[tokio::test]
async fn a_full_download_whose_crc32c_does_not_match_fails_at_the_end() {
    // A byte flipped in transit; the x-goog-hash header is the stored object's.
    let fake = Fake::start(|r, store| {
        r.is_media_get().then(|| {
            let mut resp = store.handle(r);
            if resp.status == 200 {
                resp.body[1234] ^= 0x01;
            }
            Act::Send(resp)
        })
    })
    .await;
    let payload = data(5000, 0);
    fake.seed(&payload);
    let d = fake.driver(3);
    let got = d.get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap();
    let mut body = got.body;
    let mut bytes = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = body.next().await {
        match item {
            Ok(c) => {
                assert!(errors.is_empty(), "nothing follows the error");
                bytes.extend_from_slice(&c);
            }
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(bytes.len(), 5000, "the data came whole; the check is at its end");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind(), ErrorKind::ObjectHashMismatch, "{}", errors[0]);
    assert!(errors[0].message().contains("CRC32C"), "{}", errors[0]);
    assert_eq!(d.get_bytes(BUCKET, OBJECT).await.unwrap_err().kind(), ErrorKind::ObjectHashMismatch);
    // A range is not the whole object: nothing to check it against, nothing refused.
    let got = d.get_object(BUCKET, OBJECT, &GetOptions::range(0..100)).await.unwrap();
    assert_eq!(drain(got.body).await.0, &payload[..100]);
}

#[tokio::test]
async fn a_resumed_download_is_still_checked_end_to_end() {
    // The first answer is cut; the resume brings a corrupted byte.
    let fake = Fake::start(|r, store| match (r.is_media_get(), store.count(Req::is_media_get)) {
        (true, 1) => Some(Act::Cut(store.handle(r), 2000)),
        (true, _) => {
            let mut resp = store.handle(r);
            resp.body[10] ^= 0x80;
            Some(Act::Send(resp))
        }
        _ => None,
    })
    .await;
    fake.seed(&data(6000, 0));
    let e = fake.driver(3).get_bytes(BUCKET, OBJECT).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert_eq!(fake.count(Req::is_media_get), 2);
}

// ---------------------------------------------------------------------------------------
// Resumable uploads
// ---------------------------------------------------------------------------------------

/// The Content-Range of a data chunk.
fn chunk_range(start: usize, end: usize, total: Option<usize>) -> String {
    match total {
        Some(t) => format!("bytes {start}-{}/{t}", end - 1),
        None => format!("bytes {start}-{}/*", end - 1),
    }
}

#[tokio::test]
async fn a_resumable_upload_reset_mid_chunk_resumes_from_the_committed_offset() {
    // The first chunk: the server persists 3 MiB of it, then the connection is reset.
    let fake = Fake::start(|r, store| {
        (r.is_data_chunk() && store.count(Req::is_chunk) == 1).then(|| {
            store.persist(r, 3 * MIB);
            Act::Reset
        })
    })
    .await;
    let old = data(700, 9);
    fake.seed(&old);
    let len = CHUNK + MIB + 4321;
    let payload = data(len, 0);
    let object =
        fake.driver(3).put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default()).await.unwrap();

    let stored = fake.object().unwrap();
    assert_bytes(&stored.data, &payload, "the object");
    assert_eq!(fake.writes(), [OBJECT], "one object, written once");
    assert_eq!(object.size, len as u64);
    assert_eq!(object.version, Some(stored.generation.to_string()));
    assert_eq!(object.md5(), Some(md5_hex(&payload).as_str()));
    assert_eq!(fake.count(Req::is_start), 1, "one session");
    // The status query comes only after the failure; the resend starts where the
    // server's Range ended, and the first attempt of each chunk asks nothing first.
    assert_eq!(
        fake.session_puts(),
        [
            chunk_range(0, CHUNK, None),
            "bytes */*".to_owned(),
            chunk_range(3 * MIB, CHUNK, None),
            chunk_range(CHUNK, len, Some(len)),
        ]
    );
    let puts = fake.requests_where(Req::is_chunk);
    assert_bytes(&puts[2].body, &payload[3 * MIB..CHUNK], "the resend");
    assert!(puts[1].body.is_empty());
    assert!(puts.iter().all(|p| p.header("authorization") == Some(format!("Bearer {TOKEN}").as_str())));
}

#[tokio::test]
async fn a_resumable_upload_without_faults_asks_no_status() {
    // fake-gcs-server finalizes a session on a status query: one must never be sent
    // unless a chunk failed.
    let fake = Fake::plain().await;
    let len = 2 * CHUNK;
    let payload = data(len, 3);
    fake.driver(3).put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default()).await.unwrap();
    assert_bytes(&fake.object().unwrap().data, &payload, "the object");
    // The data ends on a chunk boundary: the total comes with an empty last request.
    assert_eq!(
        fake.session_puts(),
        [chunk_range(0, CHUNK, None), chunk_range(CHUNK, len, None), format!("bytes */{len}")]
    );
}

#[tokio::test]
async fn a_chunk_the_server_only_partly_persisted_is_completed() {
    // No failure: the server answers 308 with a Range short of the chunk's end.
    let fake = Fake::start(|r, store| {
        (r.is_data_chunk() && store.count(Req::is_chunk) == 1).then(|| Act::Send(store.persist(r, 5 * MIB)))
    })
    .await;
    let len = CHUNK + 1000;
    let payload = data(len, 0);
    fake.driver(3).put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default()).await.unwrap();
    assert_bytes(&fake.object().unwrap().data, &payload, "the object");
    assert_eq!(
        fake.session_puts(),
        [chunk_range(0, CHUNK, None), chunk_range(5 * MIB, CHUNK, None), chunk_range(CHUNK, len, Some(len))]
    );
}

#[tokio::test]
async fn a_last_chunk_stored_but_unanswered_is_taken_from_the_status_query() {
    // The last chunk finalizes the object, then the connection drops before the answer.
    let fake = Fake::start(|r, store| {
        let last = r.is_data_chunk() && !r.content_range().ends_with("/*");
        (last && store.count(|x| x.is_data_chunk() && !x.content_range().ends_with("/*")) == 1).then(|| {
            let _ = store.handle(r);
            Act::Close
        })
    })
    .await;
    let len = CHUNK + 777;
    let payload = data(len, 0);
    let object =
        fake.driver(3).put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default()).await.unwrap();
    let stored = fake.object().unwrap();
    assert_bytes(&stored.data, &payload, "the object");
    assert_eq!(fake.writes(), [OBJECT], "no duplicate");
    assert_eq!(object.version, Some(stored.generation.to_string()));
    assert_eq!(object.size, len as u64);
    assert_eq!(
        fake.session_puts(),
        [chunk_range(0, CHUNK, None), chunk_range(CHUNK, len, Some(len)), format!("bytes */{len}")],
        "the status query gets the finished object; nothing is sent again"
    );
}

#[tokio::test]
async fn a_chunk_meeting_503s_asks_the_status_and_sends_it_again() {
    let fake = Fake::start(|r, store| {
        let second = |x: &Req| x.is_data_chunk() && x.content_range().starts_with(&format!("bytes {CHUNK}-"));
        (second(r) && store.count(second) <= 2).then(|| Act::Send(unavailable()))
    })
    .await;
    let len = CHUNK + 5000;
    let payload = data(len, 0);
    fake.driver(3).put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default()).await.unwrap();
    assert_bytes(&fake.object().unwrap().data, &payload, "the object");
    let last = chunk_range(CHUNK, len, Some(len));
    let status = format!("bytes */{len}");
    assert_eq!(
        fake.session_puts(),
        [chunk_range(0, CHUNK, None), last.clone(), status.clone(), last.clone(), status, last]
    );
}

#[tokio::test]
async fn an_expired_session_is_a_typed_error_saying_so() {
    for status in [404u16, 410] {
        // The first chunk is reset; meanwhile the session expires.
        let fake = Fake::start(move |r, store| {
            if r.is_data_chunk() && store.count(Req::is_chunk) == 1 {
                store.expired.insert(r.param("upload_id").unwrap());
                return Some(Act::Reset);
            }
            (r.is_status_query() && status == 404).then(|| Act::Send(not_found("session")))
        })
        .await;
        let payload = data(CHUNK + 10, 0);
        let e = fake
            .driver(3)
            .put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
        assert_eq!(e.status(), Some(status), "{e}");
        assert!(e.message().contains("expired"), "{e}");
        assert!(e.is_retryable(), "a new upload may succeed: {e}");
        assert_eq!((e.driver(), e.container(), e.key()), (Some("gcs"), Some(BUCKET), Some(OBJECT)), "{e}");
        assert_eq!(fake.session_puts(), [chunk_range(0, CHUNK, None), "bytes */*".to_owned()], "nothing after");
        assert!(fake.object().is_none());
    }
}

#[tokio::test]
async fn a_chunk_that_keeps_failing_gives_up_after_the_retries() {
    let fake = Fake::start(|r, _| r.is_data_chunk().then_some(Act::Reset)).await;
    let payload = data(CHUNK + 10, 0);
    let e =
        fake.driver(2).put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retries(), 2, "{e}");
    let first = chunk_range(0, CHUNK, None);
    let status = "bytes */*".to_owned();
    assert_eq!(fake.session_puts(), [first.clone(), status.clone(), first.clone(), status, first]);
    assert!(fake.object().is_none());
    assert_eq!(fake.count(Req::is_start), 1);
}

#[tokio::test]
async fn a_resumable_upload_whose_data_was_damaged_is_refused_by_its_crc32c() {
    // The server stores the first chunk with a flipped byte.
    let fake = Fake::start(|r, store| {
        (r.is_data_chunk() && store.count(Req::is_chunk) == 1).then(|| {
            let mut damaged = r.clone();
            damaged.body[100] ^= 0x04;
            Act::Send(store.handle(&damaged))
        })
    })
    .await;
    let payload = data(CHUNK + 10, 0);
    let e =
        fake.driver(3).put_object(BUCKET, OBJECT, unknown_length(&payload), &PutOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectHashMismatch, "{e}");
    assert!(e.message().contains("CRC32C"), "{e}");
}

#[tokio::test]
async fn a_conditional_resumable_upload_meeting_another_writer_is_precondition_failed() {
    // Create-if-absent: another writer creates the object while the chunks go up.
    let fake = Fake::start(|r, store| {
        if r.is_data_chunk() && store.count(Req::is_chunk) == 1 {
            store.write(OBJECT, b"the other writer's".to_vec(), &json!({}), false);
        }
        None
    })
    .await;
    let payload = data(CHUNK + 10, 0);
    let absent = PutOptions::default().with_mode(PutMode::CreateIfAbsent);
    let e = fake.driver(3).put_object(BUCKET, OBJECT, unknown_length(&payload), &absent).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}");
    assert_eq!((e.status(), e.provider_code()), (Some(412), Some("conditionNotMet")), "{e}");
    assert_eq!(fake.requests_where(Req::is_start)[0].param("ifGenerationMatch").as_deref(), Some("0"));
    assert_eq!(fake.object().unwrap().data, b"the other writer's");
    assert_eq!(fake.session_puts().len(), 2, "a 412 is final");
}

// ---------------------------------------------------------------------------------------
// Composite (multipart) uploads
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_part_failing_every_time_fails_the_upload_composes_nothing_and_leaves_no_staged_part() {
    let fake = Fake::start(|r, _| (r.part() == Some(3)).then(|| Act::Send(internal()))).await;
    let old = data(700, 9);
    let generation = fake.seed(&old);
    let e = small_parts(fake.driver(2))
        .upload_bytes(Bytes::from(data(5000, 0)), BUCKET, OBJECT, PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert_eq!((e.status(), e.provider_code()), (Some(500), Some("internalError")), "{e}");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(fake.count(|r| r.part() == Some(3)), 3, "part 3 was tried 1 + 2 times");
    assert_eq!(fake.count(|r| r.part() == Some(4)), 0, "nothing after the failed part");
    assert_eq!(fake.count(Req::is_compose), 0, "nothing was composed");
    // The marker and parts 1 and 2 were staged, then deleted by the abort.
    let staged_writes: Vec<String> =
        fake.writes().into_iter().filter(|n| n.starts_with(".storage-rs-parts/")).collect();
    assert_eq!(staged_writes.len(), 3, "{staged_writes:?}");
    assert_eq!(fake.count(Req::is_delete), 3);
    assert!(staged(&fake).is_empty(), "left behind: {:?}", staged(&fake));
    let o = fake.object().unwrap();
    assert_eq!((o.data, o.generation), (old, generation), "the old object is untouched");
    assert!(!fake.writes().iter().any(|w| w == OBJECT));
}

#[tokio::test]
async fn a_part_meeting_transient_errors_is_retried_and_the_upload_lands_exactly() {
    // Part 2 meets a 503 then a 429; part 4 is stored but its answer is lost.
    let fake = Fake::start(|r, store| {
        let tries = |s: &Store, n: u32| s.count(|x| x.part() == Some(n));
        match r.part() {
            Some(2) if tries(store, 2) == 1 => Some(Act::Send(unavailable())),
            Some(2) if tries(store, 2) == 2 => Some(Act::Send(rate_limited())),
            Some(4) if tries(store, 4) == 1 => {
                let _ = store.handle(r);
                Some(Act::Close)
            }
            _ => None,
        }
    })
    .await;
    fake.seed(&data(700, 9));
    let payload = data(5000, 0);
    let object = small_parts(fake.driver(3))
        .upload_bytes(Bytes::from(payload.clone()), BUCKET, OBJECT, PutOptions::default())
        .await
        .unwrap();
    let stored = fake.object().unwrap();
    assert_eq!(stored.data, payload, "the composed object is exactly the data");
    assert!(stored.composite);
    assert_eq!((object.size, object.version.clone()), (5000, Some(stored.generation.to_string())));
    assert_eq!(fake.count(|r| r.part() == Some(2)), 3);
    assert_eq!(fake.count(|r| r.part() == Some(4)), 2);
    let composes = fake.requests_where(Req::is_compose);
    assert_eq!(composes.len(), 1);
    let sources: Vec<String> = serde_json::from_slice::<Value>(&composes[0].body).unwrap()["sourceObjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().rsplit_once('/').unwrap().1.to_owned())
        .collect();
    assert_eq!(sources, ["00001", "00002", "00003", "00004", "00005"]);
    assert!(staged(&fake).is_empty(), "left behind: {:?}", staged(&fake));
}

// ---------------------------------------------------------------------------------------
// The bearer token stays secret
// ---------------------------------------------------------------------------------------

async fn secrets_fake() -> Fake {
    let fake = Fake::start(|r, store| {
        let about = |name: &str| r.path == format!("/storage/v1/b/data/o/{name}");
        if about("busy") || r.insert_name().as_deref() == Some("busy") {
            return Some(Act::Send(rate_limited()));
        }
        if about("refused") {
            return Some(Act::Send(Resp::error(401, "authError", "Invalid Credentials")));
        }
        if r.part() == Some(2) {
            return Some(Act::Send(internal()));
        }
        if r.is_data_chunk() {
            return Some(Act::Reset);
        }
        if r.is_media_get() && r.param("generation").is_none() {
            let first = store.handle(r);
            store.write(OBJECT, data(4000, 1), &json!({}), false);
            return Some(Act::Cut(first, 100));
        }
        None
    })
    .await;
    fake.seed(&data(4000, 0));
    fake
}

#[tokio::test]
async fn errors_and_debug_output_never_show_the_bearer_token() {
    let fake = secrets_fake().await;
    let d = fake.driver(2);
    let mut errors = Vec::new();
    errors.push(d.head_object(BUCKET, "busy").await.unwrap_err());
    errors.push(
        d.put_object(BUCKET, "busy", Payload::Bytes(Bytes::from_static(b"x")), &PutOptions::default())
            .await
            .unwrap_err(),
    );
    errors.push(d.head_object(BUCKET, "refused").await.unwrap_err());
    let got = d.get_object(BUCKET, OBJECT, &GetOptions::default()).await.unwrap();
    errors.push(drain(got.body).await.1.expect("the resume fails"));
    errors.push(
        small_parts(d.clone())
            .upload_bytes(Bytes::from(data(3000, 0)), BUCKET, "parts", PutOptions::default())
            .await
            .unwrap_err(),
    );
    errors.push(
        d.put_object(BUCKET, "stream", unknown_length(&data(1000, 0)), &PutOptions::default()).await.unwrap_err(),
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nobody = GcsDriver::new(fake.config(1).endpoint(format!("http://127.0.0.1:{closed}"))).unwrap();
    errors.push(nobody.head_object(BUCKET, OBJECT).await.unwrap_err());

    let kinds: Vec<ErrorKind> = errors.iter().map(Error::kind).collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::RateLimited,
            ErrorKind::RateLimited,
            ErrorKind::Unauthenticated,
            ErrorKind::PreconditionFailed,
            ErrorKind::Backend,
            ErrorKind::Io,
            ErrorKind::Io,
        ]
    );
    // The token was on the wire.
    let bearer = format!("Bearer {TOKEN}");
    assert!(fake.requests().len() > 10);
    assert!(fake.requests().iter().all(|r| r.header("authorization") == Some(bearer.as_str())));
    let mut shown: Vec<String> = errors.iter().map(|e| format!("{e} | {e:?} | {}", e.hint())).collect();
    shown.push(format!("{d:?}"));
    shown.push(format!("{:?}", d.config()));
    shown.push(format!("{:?}", GcsCredentials::bearer(TOKEN)));
    shown.push(format!("{:?}", d.http_client()));
    for text in shown {
        assert!(!text.contains(TOKEN) && !text.contains("fault-injection-secret"), "the token shows: {text}");
    }
}
