//! The benchmark's S3 server: the s3s-fs 0.14.1 filesystem store behind a listener of
//! our own that sets TCP_NODELAY on every accepted socket (the published s3s-fs binary
//! leaves Nagle on, which stalls small responses ~40 ms on the client's delayed ACK).
//!
//! ```text
//! bench-server --dir DIR [--host 127.0.0.1] [--port 9101] [--access-key AK --secret-key SK | --no-auth]
//!              [--log-requests N]
//! ```
//!
//! `--log-requests N` prints the method, target and headers of the first N requests to
//! stderr (to see what each client sends: payload hashing, checksums, query).
//!
//! Prints `listening on HOST:PORT` once it accepts connections; stops on SIGTERM / SIGINT.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use storage_bench::{Args, DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY};
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-server: {e}");
            return ExitCode::from(2);
        }
    };
    // One worker per CPU this process may run on (xtask pins it to one core).
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let dir = args.get("dir").ok_or("--dir DIR is required")?;
    let host = args.get("host").unwrap_or("127.0.0.1");
    let port: u16 = args.parse_or("port", 9101)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {dir}: {e}"))?;
    let fs = s3s_fs::FileSystem::new(dir).map_err(|e| format!("cannot open the store at {dir}: {e:?}"))?;
    let mut builder = S3ServiceBuilder::new(fs);
    if !args.flag("no-auth") {
        let ak = args.get("access-key").unwrap_or(DEFAULT_ACCESS_KEY);
        let sk = args.get("secret-key").unwrap_or(DEFAULT_SECRET_KEY);
        builder.set_auth(SimpleAuth::from_single(ak, sk));
    }
    let service = builder.build();
    let log_left = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(args.parse_or("log-requests", 0)?));

    let listener = TcpListener::bind((host, port)).await.map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {local}");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    loop {
        let socket = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("bench-server: accept failed: {e}");
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        if let Err(e) = socket.set_nodelay(true) {
            eprintln!("bench-server: cannot set TCP_NODELAY: {e}");
        }
        let service = service.clone();
        let log_left = log_left.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(socket);
            let http = http1::Builder::new();
            if log_left.load(Ordering::Relaxed) == 0 {
                let _ = http.serve_connection(io, service).await;
            } else {
                let logged = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    if log_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                        let mut line = format!("{} {}", req.method(), req.uri());
                        for (k, v) in req.headers() {
                            let v = if k == "authorization" { "<redacted>" } else { v.to_str().unwrap_or("<bytes>") };
                            line.push_str(&format!("\n  {k}: {v}"));
                        }
                        eprintln!("{line}");
                    }
                    hyper::service::Service::call(&service, req)
                });
                let _ = http.serve_connection(io, logged).await;
            }
        });
    }
    Ok(())
}
