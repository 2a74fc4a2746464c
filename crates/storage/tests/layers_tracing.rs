//! What `TracingLayer` writes to `tracing`: spans and events carry the operation, the
//! container, the key and the outcome, never a signed URL. Its own test binary: the
//! subscriber below is the thread's default, and no other test shares the callsites.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use storage::layers::TracingLayer;
use storage::{Driver, MemoryDriver, PutOptions, Result, SignedUrlOptions};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Writes every span's and event's fields into one string.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut out = self.0.lock().unwrap();
        let _ = write!(out, "\n[span {}] ", span.metadata().name());
        span.record(&mut Fields(&mut out));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(out, "\n[{}] ", event.metadata().level());
        event.record(&mut Fields(&mut out));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Signs with a recognisable secret.
#[derive(Debug)]
struct Signer(MemoryDriver);

#[storage::async_trait]
impl storage::layer::Layer for Signer {
    fn inner(&self) -> &dyn Driver {
        &self.0
    }
    async fn signed_url(&self, container: &str, key: &str, _: &SignedUrlOptions) -> Result<String> {
        Ok(format!("https://example.invalid/{container}/{key}?X-Signature=TOPSECRET"))
    }
}

#[tokio::test]
async fn events_name_the_call_and_never_the_signed_url() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let t = TracingLayer::new(Arc::new(Signer(MemoryDriver::new())));
    t.create_container("c").await.unwrap();
    t.put_object("c", "photo.jpg", "data".into(), &PutOptions::default()).await.unwrap();
    assert!(t.head_object("c", "gone").await.is_err());
    assert!(t.create_container("c").await.is_err());
    let url = t.signed_url("c", "photo.jpg", &SignedUrlOptions::default()).await.unwrap();
    assert!(url.contains("TOPSECRET"), "the caller gets the URL");

    let log = capture.0.lock().unwrap().clone();
    assert!(log.contains("operation=\"put_object\" container=\"c\" key=\"photo.jpg\""), "{log}");
    assert!(log.contains("bytes=4"), "{log}");
    assert!(log.contains("operation=\"signed_url\""), "a signed URL is traced: {log}");
    let line = |needle: &str| log.lines().find(|l| l.contains(needle)).unwrap_or_default().to_owned();
    assert!(line("error=\"ObjectDoesNotExist\"").starts_with("[DEBUG]"), "control flow: {log}");
    let exists = line("error=\"ContainerAlreadyExists\"");
    assert!(exists.starts_with("[WARN]") && exists.contains("detail=\"container \\\"c\\\" already exists\""), "{log}");
    assert!(!log.contains("TOPSECRET") && !log.contains("example.invalid"), "the URL is never logged: {log}");
}
