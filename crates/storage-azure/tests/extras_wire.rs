//! What goes on the wire for an encryption scope, which Azurite accepts and ignores (it
//! stores no scope and reports none), so it is checked here against an in-process server
//! that records every request and answers like the Blob service: the scope is sent on
//! Put Blob, on every Put Block and on Put Block List; a tier and tags go on the commit
//! only; a Cold tier goes with service version 2021-12-02; a refused setting sends no
//! request at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use storage_azure::{AzureConfig, AzureDriver};
use storage_core::{Driver, Encryption, ErrorKind, PutOptions, Transfer, TransferOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request: method, path and query, lower-case headers.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn comp(&self) -> Option<&str> {
        self.target.split(['?', '&']).find_map(|p| p.strip_prefix("comp="))
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn serve(mut sock: TcpStream, log: Log) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let (method, target) = (first.next().unwrap().to_owned(), first.next().unwrap().to_owned());
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        while buf.len() < head_end + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + len);
        let seen = Seen { method, target, headers };
        let status = match (seen.method.as_str(), seen.comp()) {
            ("HEAD", _) => "200 OK",
            _ => "201 Created",
        };
        log.lock().unwrap().push(seen);
        let answer = format!(
            "HTTP/1.1 {status}\r\netag: \"0x8D1\"\r\nlast-modified: Mon, 27 Jan 2014 22:28:43 GMT\r\nx-ms-request-id: r\r\ncontent-length: 0\r\n\r\n"
        );
        if sock.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn recording_server() -> (Arc<AzureDriver>, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, shared.clone()));
        }
    });
    let d = AzureDriver::new(AzureConfig::emulator().endpoint(format!("http://127.0.0.1:{port}/devstoreaccount1")))
        .unwrap();
    (Arc::new(d), log)
}

fn scoped() -> PutOptions {
    let mut o = PutOptions {
        encryption: Some(Encryption::Scope("cmk-scope".into())),
        storage_class: Some("Cold".into()),
        ..Default::default()
    };
    o.tags.insert("k".into(), "v w".into());
    o
}

#[tokio::test]
async fn the_scope_goes_on_put_blob_every_put_block_and_the_commit() {
    let (d, log) = recording_server().await;
    d.put_object("box", "one.bin", "x".into(), &scoped()).await.unwrap();
    let t = Transfer::with_options(
        d.clone(),
        TransferOptions { single_put_threshold: 1024, part_size: 1024, ..Default::default() },
    );
    t.upload_bytes(vec![5u8; 3 * 1024 + 1].into(), "box", "multi.bin", scoped()).await.unwrap();

    let log = log.lock().unwrap().clone();
    let put_blob: Vec<_> = log.iter().filter(|r| r.method == "PUT" && r.comp().is_none()).collect();
    let blocks: Vec<_> = log.iter().filter(|r| r.comp() == Some("block")).collect();
    let commit: Vec<_> = log.iter().filter(|r| r.comp() == Some("blocklist")).collect();
    assert_eq!((put_blob.len(), blocks.len(), commit.len()), (1, 4, 1), "{log:#?}");
    for r in put_blob.iter().chain(&blocks).chain(&commit) {
        assert_eq!(r.header("x-ms-encryption-scope"), Some("cmk-scope"), "{r:?}");
    }
    for r in put_blob.iter().chain(&commit) {
        assert_eq!(r.header("x-ms-access-tier"), Some("Cold"), "{r:?}");
        assert_eq!(r.header("x-ms-version"), Some("2021-12-02"), "the Cold tier needs 2021-12-02: {r:?}");
        assert_eq!(r.header("x-ms-tags"), Some("k=v%20w"), "{r:?}");
    }
    for r in &blocks {
        assert!(r.header("x-ms-access-tier").is_none() && r.header("x-ms-tags").is_none(), "{r:?}");
    }
}

#[tokio::test]
async fn refused_settings_send_nothing() {
    let (d, log) = recording_server().await;
    let kms = PutOptions { encryption: Some(Encryption::Kms { key_id: None }), ..Default::default() };
    assert_eq!(d.put_object("box", "k", "x".into(), &kms).await.unwrap_err().kind(), ErrorKind::NotSupported);
    assert_eq!(d.create_multipart("box", "k", &kms).await.unwrap_err().kind(), ErrorKind::NotSupported);
    let bad = PutOptions { storage_class: Some("Premium".into()), ..Default::default() };
    assert_eq!(d.put_object("box", "k", "x".into(), &bad).await.unwrap_err().kind(), ErrorKind::Config);
    assert_eq!(d.create_multipart("box", "k", &bad).await.unwrap_err().kind(), ErrorKind::Config);
    assert!(log.lock().unwrap().is_empty(), "{:#?}", log.lock().unwrap());
    // Managed keys are Azure's default: accepted, and nothing extra is sent.
    let managed = PutOptions { encryption: Some(Encryption::Managed), ..Default::default() };
    d.put_object("box", "k", "x".into(), &managed).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 1);
    assert!(log[0].header("x-ms-encryption-scope").is_none(), "{log:?}");
    assert_eq!(log[0].header("x-ms-version"), Some(storage_azure::signing::API_VERSION));
}
