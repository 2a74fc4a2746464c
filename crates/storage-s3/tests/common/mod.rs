//! The in-process HTTP/1.1 server (storage-testkit's) for the tests that stand in for
//! STS, SSO, IMDS, IAM or an S3-ish endpoint: it records every request and answers with a
//! handler.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use storage_testkit::http::{Seen, Server, pairs as form, serve};

/// The answer: status, content type, body.
pub type Reply = (u16, &'static str, String);
