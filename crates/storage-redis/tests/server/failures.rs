//! Error mapping against real sockets: connection refused, wrong passwords.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use storage_core::{Driver, ErrorKind};
use storage_redis::RedisBuilder;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn connection_refused_is_a_retryable_io_error() {
    let port = free_port();
    let d = RedisBuilder::new()
        .url(format!("redis://:topsecret@127.0.0.1:{port}"))
        .retry_attempts(2)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = d.head_object("c", "k").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.is_retryable());
    assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(!e.to_string().contains("topsecret") && !format!("{e:?}{d:?}").contains("topsecret"), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());

    let ports = [free_port(), free_port()];
    let d = RedisBuilder::new()
        .cluster_nodes(ports.map(|p| format!("redis://127.0.0.1:{p}")))
        .retry_attempts(2)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let e = d.get_container("c").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Io | ErrorKind::Timeout), "{e}");
    assert!(e.is_retryable(), "{e}");
    assert!(e.message().contains(&format!("127.0.0.1:{}", ports[0])), "{e}");
}

struct Server {
    child: Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl Server {
    /// A private redis-server on a free port with extra arguments.
    fn start(extra: &[&str]) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("storage-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); install it or run `cargo xtask emulators start redis`")
            });
        Server { child, dir, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (bounded) until `d` answers.
async fn wait_ready(d: &storage_redis::RedisDriver) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.ping().await.is_err() {
        assert!(Instant::now() < deadline, "the test redis-server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn wrong_password_is_unauthenticated() {
    let server = Server::start(&["--requirepass", "right-pass"]);
    let port = server.port;
    let url = format!("redis://127.0.0.1:{port}");
    let good = RedisBuilder::new().url(&url).password("right-pass").build().unwrap();
    wait_ready(&good).await;
    good.create_container("c").await.unwrap();

    let wrong = RedisBuilder::new().url(format!("redis://:wrong-pass@127.0.0.1:{port}")).build().unwrap();
    let e = wrong.get_container("c").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(!e.is_retryable());
    let shown = format!("{e} {e:?} {wrong:?}");
    assert!(!shown.contains("wrong-pass") && !shown.contains("right-pass"), "{shown}");

    let none = RedisBuilder::new().url(&url).build().unwrap();
    assert_eq!(none.get_container("c").await.unwrap_err().kind(), ErrorKind::Unauthenticated);
}

#[tokio::test]
async fn out_of_memory_is_backend_oom_and_keeps_the_old_object() {
    let server = Server::start(&["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]);
    let d = RedisBuilder::new().url(server.url()).chunk_size(64 * 1024).build().unwrap();
    wait_ready(&d).await;
    d.create_container("c").await.unwrap();
    let old = vec![1u8; 100 * 1024];
    d.put_object("c", "k", old.clone().into(), &storage_core::PutOptions::default()).await.unwrap();
    let big = vec![2u8; 16 << 20];
    let e = d.put_object("c", "k", big.into(), &storage_core::PutOptions::default()).await.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::Backend, Some("OOM")), "{e}");
    assert!(e.message().contains("maxmemory"), "{e}");
    assert_eq!(storage_core::DriverExt::get_bytes(&d, "c", "k").await.unwrap(), old);
    // The failed write's chunks were deleted, so there is room again.
    d.put_object("c", "k2", vec![3u8; 100 * 1024].into(), &storage_core::PutOptions::default()).await.unwrap();
}

#[tokio::test]
async fn writes_to_a_replica_are_backend_readonly() {
    let primary = Server::start(&[]);
    let port = primary.port.to_string();
    let replica = Server::start(&["--replicaof", "127.0.0.1", &port]);
    let p = RedisBuilder::new().url(primary.url()).build().unwrap();
    let r = RedisBuilder::new().url(replica.url()).retry_attempts(1).build().unwrap();
    wait_ready(&p).await;
    wait_ready(&r).await;
    p.create_container("c").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.get_container("c").await.is_err() {
        assert!(Instant::now() < deadline, "the replica did not sync");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = r.create_container("d").await.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::Backend, Some("READONLY")), "{e}");
    let e = r.put_object("c", "k", "x".into(), &storage_core::PutOptions::default()).await.unwrap_err();
    assert_eq!((e.kind(), e.provider_code()), (ErrorKind::Backend, Some("READONLY")), "{e}");
}

/// With the `tls` feature, a `rediss://` URL gets as far as the TLS handshake: against a
/// plain-text server that fails with an error, not a panic (rustls has its provider).
#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_handshake_against_plain_server_fails_cleanly() {
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"-ERR not TLS\r\n").await;
        }
    });
    let d = RedisBuilder::new().url(format!("rediss://127.0.0.1:{port}")).retry_attempts(1).build().unwrap();
    let e = d.ping().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    server.abort();
}
