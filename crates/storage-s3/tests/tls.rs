//! HTTPS against an in-process TLS server whose certificate comes from a private test CA
//! (`tests/tls/`: `ca.pem` signed `server.pem` for localhost and 127.0.0.1; `other-ca.pem`
//! is an unrelated CA; the key is a throwaway made for these tests). The client trusts
//! the server only through `ca_bundle` / `AWS_CA_BUNDLE`; the S3 driver lists buckets
//! over it; the wrong CA and the bundled public roots are refused at once (a `Config`
//! error, not retried); unusable bundle files are `Config` errors naming the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use futures::TryStreamExt;
use storage_core::{Driver, ErrorKind};
use storage_http::http::Method;
use storage_http::{HttpClient, HttpConfig, HttpRequest, Unsigned};
use storage_s3::{S3Config, S3Driver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls").join(name)
}

const BUCKETS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
<Owner><ID>o</ID></Owner><Buckets><Bucket><Name>over-tls</Name>\
<CreationDate>2026-11-22T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>";

/// An HTTPS server on 127.0.0.1 answering every request with `BUCKETS`; returns its port.
async fn serve() -> u16 {
    let cert = CertificateDer::from_pem_file(fixture("server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the client distrusts us) just ends the connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n",
                            BUCKETS.len()
                        );
                        if tls.write_all(head.as_bytes()).await.is_err()
                            || tls.write_all(BUCKETS.as_bytes()).await.is_err()
                        {
                            return;
                        }
                    }
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    port
}

fn client(ca_bundle: Option<PathBuf>) -> storage_core::Result<HttpClient> {
    HttpClient::new(HttpConfig { ca_bundle, proxy_from_env: false, ..HttpConfig::default() })
}

fn get(port: u16, host: &str) -> HttpRequest {
    HttpRequest::parse(Method::GET, &format!("https://{host}:{port}/"), "ListBuckets").unwrap()
}

#[tokio::test]
async fn a_server_signed_by_the_bundled_ca_is_trusted_by_name_and_by_ip() {
    let port = serve().await;
    let c = client(Some(fixture("ca.pem"))).unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let resp = c.execute(&get(port, host), &Unsigned).await.unwrap();
        assert_eq!(resp.status.as_u16(), 200, "{host}");
        assert_eq!(resp.bytes().await.unwrap(), BUCKETS.as_bytes(), "{host}");
    }
}

#[tokio::test]
async fn the_wrong_ca_and_the_public_roots_are_refused() {
    let port = serve().await;
    for bundle in [Some(fixture("other-ca.pem")), None] {
        let e = client(bundle.clone()).unwrap().execute(&get(port, "localhost"), &Unsigned).await.unwrap_err();
        // Not transient: a typed error at once, no retries.
        assert_eq!(e.kind(), ErrorKind::Config, "{bundle:?}: {e}");
        assert!(e.message().contains("TLS certificate was refused"), "{bundle:?}: {e}");
        assert!(e.message().contains("UnknownIssuer"), "{bundle:?}: {e}");
        assert_eq!(e.retries(), 0, "{bundle:?}: {e}");
    }
}

#[tokio::test]
async fn the_s3_driver_lists_over_https_with_aws_ca_bundle() {
    let port = serve().await;
    let ca = fixture("ca.pem").to_string_lossy().into_owned();
    let config = S3Config::from_vars(|k| (k == "AWS_CA_BUNDLE").then(|| ca.clone()))
        .unwrap()
        .endpoint(format!("https://localhost:{port}"))
        .region("us-east-1")
        .static_credentials("AKIDTLS", "tls-secret");
    assert_eq!(config.http.ca_bundle.as_deref(), Some(fixture("ca.pem").as_path()));
    let s3 = S3Driver::new(config).unwrap();
    let buckets: Vec<_> = s3.list_containers().try_collect().await.unwrap();
    assert_eq!(buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["over-tls"]);
}

#[test]
fn unusable_bundles_are_config_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n").unwrap();
    for path in [dir.path().join("missing.pem"), empty, broken] {
        let e = client(Some(path.clone())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{}: {e}", path.display());
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}
