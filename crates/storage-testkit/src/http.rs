//! A minimal in-process HTTP/1.1 server for tests that stand in for a token endpoint
//! (STS, SSO, IMDS, IAM, Entra ID, Google's metadata server) or a small API: it records
//! every request and answers each with a handler. One request per connection.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// `GET`, `POST`...
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// The path, without the query.
    pub path: String,
    /// The query's pairs, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8).
    pub body: String,
    /// The body as sent.
    pub bytes: Vec<u8>,
}

impl Seen {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first value of field `name` of an `application/x-www-form-urlencoded` body.
    pub fn form(&self, name: &str) -> Option<String> {
        pairs(&self.body).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// `a=b&c=d`, values percent-decoded (`+` stays `+`).
pub fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An answer: status, headers (a `content-type` among them) and body.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The headers (`content-length` and `connection: close` are added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// An answer with a content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Reply { status, headers: vec![("content-type".into(), content_type.into())], body: body.into() }
    }
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::new(status, "application/json; charset=utf-8", body)
    }
    /// The answer with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// `(status, body)`: a JSON answer.
impl From<(u16, String)> for Reply {
    fn from((status, body): (u16, String)) -> Self {
        Reply::json(status, body)
    }
}

/// `(status, content type, body)`.
impl From<(u16, &str, String)> for Reply {
    fn from((status, content_type, body): (u16, &str, String)) -> Self {
        Reply::new(status, content_type, body)
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A running server: its base URL (`http://127.0.0.1:PORT`) and what it received.
#[derive(Clone)]
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Starts a server on 127.0.0.1 answering each request with `handler` (called with the
/// request already recorded).
///
/// # Panics
/// When it cannot listen.
pub async fn serve<R: Into<Reply>>(handler: impl Fn(&Seen) -> R + Send + Sync + 'static) -> Server {
    let handler: Handler = Arc::new(move |s| handler(s).into());
    let listener =
        TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("no port for the test server: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("the test server has no address: {e}"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (handler, log) = (handler.clone(), log.clone());
            tokio::spawn(async move { handle(sock, handler, log).await });
        }
    });
    Server { base: format!("http://{addr}"), seen }
}

async fn handle(mut sock: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Seen>>>) {
    let Some(req) = read_request(&mut sock).await else { return };
    log.lock().unwrap_or_else(PoisonError::into_inner).push(req.clone());
    let reply = handler(&req);
    let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", reply.body.len()));
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(reply.body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Reads one HTTP/1.1 request (head and a `content-length` body) from `sock`; `None`
/// when the connection closes first. For test servers and proxies of their own.
pub async fn read_request(sock: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), pairs(q)),
        None => (target.clone(), Vec::new()),
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Seen { method, target, path, query, headers, body: String::from_utf8_lossy(&body).into_owned(), bytes: body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_queries_decode() {
        assert_eq!(
            pairs("a=b%20c&empty=&flag&plus=x+y"),
            [("a", "b c"), ("empty", ""), ("flag", ""), ("plus", "x+y")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .to_vec()
        );
        assert_eq!(decode("100%"), "100%");
    }
}
