//! What the workspace's tests share, written once: the settings of the servers
//! `cargo xtask test` starts (read from the environment it exports), and directory
//! helpers to build and compare trees of files. Forwarding and fault-injecting test
//! drivers are layers (`storage_core::layer::Layer`), which need no kit of their own.
//!
//! Test code only: it panics with a message saying what to run when something is
//! missing.

pub mod fault_proxy;
pub mod http;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The value of the environment variable `name`, which `cargo xtask test` exports for
/// the emulators it starts (their endpoints and keys; see `xtask/src/emulators.rs`).
///
/// # Panics
/// When it is not set, saying how to run the tests.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run `cargo xtask test`, or start the emulators (`cargo xtask emulators start`) and \
             export the variables xtask/src/emulators.rs lists"
        )
    })
}

/// An S3 server's endpoint and keys, from `EMU_S3_<NAME>_ENDPOINT`, `..._ACCESS_KEY_ID`
/// and `..._SECRET_ACCESS_KEY` (`name`: `MOTO`, `S3SFS`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
}

impl S3Server {
    /// The server `name` (upper case, as in the variables' names).
    ///
    /// # Panics
    /// When its variables are not set.
    pub fn from_env(name: &str) -> Self {
        S3Server {
            endpoint: env(&format!("EMU_S3_{name}_ENDPOINT")),
            access_key_id: env(&format!("EMU_S3_{name}_ACCESS_KEY_ID")),
            secret_access_key: env(&format!("EMU_S3_{name}_SECRET_ACCESS_KEY")),
        }
    }
}

/// A configuration file (TOML) naming every backend `cargo xtask test` starts, one
/// section each: `local` (the default, rooted at `root`), `moto`, `s3sfs`, `rclone`, `motoalias`
/// (moto with a trailing `/` on its endpoint), `localalias`, `redis`, `cluster`, `azure`
/// and `gcs`. Redis keys live under `namespace`.
///
/// # Panics
/// When an emulator's variables are not set.
pub fn backends_toml(root: &Path, namespace: &str) -> String {
    let (moto, s3s, rclone) = (S3Server::from_env("MOTO"), S3Server::from_env("S3SFS"), S3Server::from_env("RCLONE"));
    format!(
        r#"default = "local"
[local]
root = "{root}"
[moto]
driver = "s3"
endpoint = "{moto}"
access_key_id = "{moto_key}"
secret_access_key = "{moto_secret}"
[s3sfs]
driver = "s3"
endpoint = "{s3s}"
access_key_id = "{s3s_key}"
secret_access_key = "{s3s_secret}"
[rclone]
driver = "s3"
endpoint = "{rclone}"
access_key_id = "{rclone_key}"
secret_access_key = "{rclone_secret}"
[motoalias]
driver = "s3"
endpoint = "{moto}/"
access_key_id = "{moto_key}"
secret_access_key = "{moto_secret}"
[localalias]
driver = "local"
root = "{root}/./"
[redis]
url = "{redis}"
namespace = "{namespace}"
[cluster]
driver = "redis"
nodes = "{nodes}"
namespace = "{namespace}"
[azure]
use_emulator = true
endpoint = "{azurite}"
[gcs]
endpoint = "{fakegcs}"
anonymous = true
"#,
        root = root.display(),
        moto = moto.endpoint,
        moto_key = moto.access_key_id,
        moto_secret = moto.secret_access_key,
        s3s = s3s.endpoint,
        s3s_key = s3s.access_key_id,
        s3s_secret = s3s.secret_access_key,
        rclone = rclone.endpoint,
        rclone_key = rclone.access_key_id,
        rclone_secret = rclone.secret_access_key,
        redis = env("REDIS_URL"),
        nodes = env("REDIS_CLUSTER_NODES"),
        azurite = env("AZURITE_BLOB_ENDPOINT"),
        fakegcs = env("EMU_GCS_FAKEGCS_ENDPOINT"),
    )
}

/// Creates the bucket `name` with object versioning on at the fake-gcs-server
/// `endpoint` (`http://host:port`), by one raw `buckets.insert`: the GCS driver's
/// `create_container` makes plain buckets.
///
/// # Panics
/// When the server cannot be reached or does not answer with a versioned bucket.
pub fn create_versioned_gcs_bucket(endpoint: &str, name: &str) {
    use std::io::{Read, Write};
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = format!(r#"{{"name":"{name}","versioning":{{"enabled":true}}}}"#);
    let request = format!(
        "POST /storage/v1/b?project=test HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(authority).unwrap_or_else(|e| panic!("connecting to {authority}: {e}"));
    s.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("sending to {authority}: {e}"));
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap_or_else(|e| panic!("reading from {authority}: {e}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "creating a versioned bucket: {answer}");
    assert!(answer.contains(r#""enabled":true"#), "the bucket is not versioned: {answer}");
}

/// Writes `data` to `path`, creating its parent directories.
///
/// # Panics
/// On any I/O error.
pub fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Every regular file under `root`: its path relative to `root` (`/`-separated) -> its
/// bytes. Symbolic links are not followed; a missing `root` is an empty tree.
///
/// # Panics
/// On any I/O error.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return out;
    }
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
            let name = entry.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let kind = entry.file_type().unwrap_or_else(|e| panic!("reading {r}: {e}"));
            if kind.is_dir() {
                stack.push((entry.path(), r));
            } else if kind.is_file() {
                let data = std::fs::read(entry.path()).unwrap_or_else(|e| panic!("reading {r}: {e}"));
                out.insert(r, data);
            }
        }
    }
    out
}

/// An in-process HTTP CONNECT proxy on `127.0.0.1`: its port, and the head of every
/// request it received. With `basic` (base64 of `user:password`) a request without that
/// `Proxy-Authorization` is refused with 407; others are tunnelled to their target.
///
/// # Panics
/// When it cannot listen.
pub async fn connect_proxy(basic: Option<&str>) -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("no port for the test proxy: {e}"));
    let port = listener.local_addr().unwrap_or_else(|e| panic!("the test proxy has no address: {e}")).port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let expected = basic.map(|b| format!("proxy-authorization: basic {}", b.to_ascii_lowercase()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (log, expected) = (log.clone(), expected.clone());
            tokio::spawn(async move {
                let head = read_head(&mut client).await;
                log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(head.clone());
                if expected.is_some_and(|e| !head.to_ascii_lowercase().contains(&e)) {
                    let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
                    return;
                }
                let Some(target) = head.split_whitespace().nth(1).map(str::to_owned) else { return };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (port, seen)
}

/// Reads a request head (up to the blank line) as text.
async fn read_head(sock: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match sock.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_round_trip() {
        let dir = std::env::temp_dir().join(format!("storage-testkit-{}", std::process::id()));
        write_file(&dir.join("a/b/c.txt"), b"c");
        write_file(&dir.join("top"), b"");
        let tree = read_tree(&dir);
        assert_eq!(tree.keys().collect::<Vec<_>>(), ["a/b/c.txt", "top"]);
        assert_eq!(tree["a/b/c.txt"], b"c");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_tree(&dir).is_empty());
    }
}
