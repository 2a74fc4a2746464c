//! V4 signed URLs against Google's published conformance vectors
//! (`googleapis/conformance-tests`, `storage/v1/v4_signatures.json`, signed with the
//! published throwaway key `storage/v1/service-account`; copies in `tests/fixtures/`).
//!
//! Each vector that applies to what this crate signs is its own test and must give the
//! exact canonical request, string to sign and URL. The others are listed in `SKIPPED`
//! with the reason, and a test checks that every vector of the file is one or the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use storage_gcs::credentials::ServiceAccountKey;
use storage_gcs::signing::{UrlStyle, V4Request, signed_url, signed_url_with_style, v4_parts};

/// One vector, as the file writes it.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Vector {
    description: String,
    bucket: String,
    #[serde(default)]
    object: String,
    method: String,
    expiration: u64,
    timestamp: String,
    expected_url: String,
    scheme: Option<String>,
    url_style: Option<String>,
    bucket_bound_hostname: Option<String>,
    hostname: Option<String>,
    client_endpoint: Option<String>,
    emulator_hostname: Option<String>,
    universe_domain: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    query_parameters: BTreeMap<String, String>,
    expected_canonical_request: String,
    expected_string_to_sign: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    signing_v4_tests: Vec<Vector>,
}

const VECTORS: &str = include_str!("fixtures/v4_signatures.json");
const KEY: &str = include_str!("fixtures/service-account.json");

/// The vectors not run, and why. Their URL is at `localhost:8080` and their published
/// signature is over `host:localhost`, the port dropped (checked: signing the same request
/// for `http://localhost` gives that signature). This crate signs the host with its port
/// when it is not the scheme's default (`host:localhost:8080`), which is the `Host` header
/// such a URL is requested with. (The file's `expectedCanonicalRequest` for them, with
/// `host:storage.googleapis.com`, matches neither.)
const SKIPPED: &[(&str, &str)] = &[
    ("Simple GET with non-default hostname", "host signed without its port (localhost:8080 -> localhost)"),
    ("Endpoint on client with scheme", "host signed without its port (localhost:8080 -> localhost)"),
    ("Endpoint on client takes precedence over emulator", "host signed without its port (localhost:8080 -> localhost)"),
];

/// Vectors whose `expectedCanonicalRequest` and `expectedStringToSign` disagree with their
/// own signature (they say `host:storage.googleapis.com` and a path-style path, while the
/// signature in `expectedUrl` is over the host, and path, the URL has). Only their URL, and
/// so their signature, is checked: that is what a server verifies.
const STALE_CANONICAL_REQUEST: &[&str] = &[
    "Emulator host",
    "Hostname takes precendence over endpoint and emulator",
    "Universe domain",
    "Universe domain with virtual hosted style",
];

fn vectors() -> Vec<Vector> {
    serde_json::from_str::<File>(VECTORS).unwrap().signing_v4_tests
}

fn key() -> ServiceAccountKey {
    ServiceAccountKey::from_json(KEY).unwrap()
}

/// The endpoint a vector's inputs describe.
fn endpoint(v: &Vector) -> String {
    let scheme = v.scheme.as_deref().unwrap_or("https");
    let host = match v.url_style.as_deref() {
        Some("BUCKET_BOUND_HOSTNAME") => v.bucket_bound_hostname.as_deref().unwrap(),
        // The precedence the vectors describe: hostname, client endpoint, emulator,
        // universe domain, then Google's endpoint.
        _ => match (&v.hostname, &v.client_endpoint, &v.emulator_hostname, &v.universe_domain) {
            (Some(host), _, _, _) | (None, Some(host), _, _) | (None, None, Some(host), _) => host,
            (None, None, None, Some(domain)) => return format!("{scheme}://storage.{domain}"),
            (None, None, None, None) => "storage.googleapis.com",
        },
    };
    if host.contains("://") { host.to_owned() } else { format!("{scheme}://{host}") }
}

fn style(v: &Vector) -> UrlStyle {
    match v.url_style.as_deref() {
        None | Some("PATH_STYLE") => UrlStyle::Path,
        Some("VIRTUAL_HOSTED_STYLE") => UrlStyle::VirtualHosted,
        Some("BUCKET_BOUND_HOSTNAME") => UrlStyle::BucketBoundHostname,
        Some(other) => panic!("unknown url style {other}"),
    }
}

/// Runs the vector called `description`.
fn run(description: &str) {
    assert!(!SKIPPED.iter().any(|(d, _)| *d == description), "{description} is skipped");
    let v = vectors().into_iter().find(|v| v.description == description).unwrap();
    let endpoint = endpoint(&v);
    let headers: Vec<(&str, &str)> = v.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let query: Vec<(&str, &str)> = v.query_parameters.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = V4Request {
        method: &v.method,
        endpoint: &endpoint,
        bucket: &v.bucket,
        object: &v.object,
        expires_in: Duration::from_secs(v.expiration),
        time: DateTime::parse_from_rfc3339(&v.timestamp).unwrap().with_timezone(&Utc),
        headers: &headers,
        query: &query,
    };
    let key = key();
    if !STALE_CANONICAL_REQUEST.contains(&description) {
        let parts = v4_parts(&key.client_email, &req, style(&v)).unwrap();
        assert_eq!(parts.canonical_request, v.expected_canonical_request, "canonical request of {description:?}");
        assert_eq!(parts.string_to_sign, v.expected_string_to_sign, "string to sign of {description:?}");
    }
    let url = signed_url_with_style(&key, &req, style(&v)).unwrap();
    assert_eq!(url, v.expected_url, "URL of {description:?}");
    if style(&v) == UrlStyle::Path {
        assert_eq!(signed_url(&key, &req).unwrap(), v.expected_url);
    }
}

macro_rules! vector_tests {
    ($($name:ident => $description:literal,)*) => {
        $(
            #[test]
            fn $name() {
                run($description);
            }
        )*

        /// The descriptions of the vectors run.
        const RUN: &[&str] = &[$($description),*];
    };
}

vector_tests! {
    simple_get => "Simple GET",
    simple_put => "Simple PUT",
    post_for_resumable_uploads => "POST for resumable uploads",
    vary_expiration_and_timestamp => "Vary expiration and timestamp",
    vary_bucket_and_object => "Vary bucket and object",
    slashes_in_object_name_are_not_encoded => "Slashes in object name should not be URL encoded",
    forward_slashes_are_not_stripped => "Forward Slashes should not be stripped",
    simple_headers => "Simple headers",
    headers_with_colons => "Headers with colons",
    headers_are_trimmed => "Headers should be trimmed",
    header_value_with_multiple_inline_values => "Header value with multiple inline values",
    customer_supplied_encryption_key => "Customer-supplied encryption key",
    list_objects => "List Objects",
    query_parameter_encoding => "Query Parameter Encoding",
    query_parameter_ordering => "Query Parameter Ordering",
    header_ordering => "Header Ordering",
    signed_payload_instead_of_unsigned_payload => "Signed Payload Instead of UNSIGNED-PAYLOAD",
    virtual_hosted_style => "Virtual Hosted Style",
    http_bucket_bound_hostname => "HTTP Bucket Bound Hostname Support",
    https_bucket_bound_hostname => "HTTPS Bucket Bound Hostname Support",
    simple_get_with_hostname => "Simple GET with hostname",
    simple_get_with_endpoint_on_client => "Simple GET with endpoint on client",
    emulator_host => "Emulator host",
    hostname_takes_precedence_over_endpoint_and_emulator => "Hostname takes precendence over endpoint and emulator",
    universe_domain => "Universe domain",
    universe_domain_with_virtual_hosted_style => "Universe domain with virtual hosted style",
}

#[test]
fn every_vector_is_run_or_skipped_with_a_reason() {
    let all = vectors();
    assert_eq!(all.len(), RUN.len() + SKIPPED.len(), "the file has vectors neither run nor skipped");
    for v in &all {
        let run = RUN.contains(&v.description.as_str());
        let skipped = SKIPPED.iter().any(|(d, _)| *d == v.description);
        assert!(run != skipped, "{:?} must be either run or skipped", v.description);
    }
}

#[test]
fn every_vector_signature_is_the_keys_signature_of_its_string_to_sign() {
    // Skipped vectors included, stale ones excepted (their string to sign is not the
    // one their signature is over).
    let key = key();
    for v in vectors().into_iter().filter(|v| !STALE_CANONICAL_REQUEST.contains(&v.description.as_str())) {
        if SKIPPED.iter().any(|(d, _)| *d == v.description) {
            // Their published string to sign is stale too: it is not what was signed.
            continue;
        }
        let expected = v.expected_url.rsplit_once("X-Goog-Signature=").unwrap().1;
        let signature = hex::encode(key.sign(v.expected_string_to_sign.as_bytes()).unwrap());
        assert_eq!(signature, expected, "signature of {:?}", v.description);
    }
}

#[test]
fn skipped_vectors_differ_only_by_the_port_of_the_signed_host() {
    // Signed for `http://localhost` (port dropped), each skipped request gives the
    // published signature; this crate signs `host:localhost:8080` for a URL at
    // localhost:8080, and the rest of its URL is the published one.
    let key = key();
    for v in vectors().into_iter().filter(|v| SKIPPED.iter().any(|(d, _)| *d == v.description)) {
        let (published_unsigned, published_signature) = v.expected_url.rsplit_once("&X-Goog-Signature=").unwrap();
        let time = DateTime::parse_from_rfc3339(&v.timestamp).unwrap().with_timezone(&Utc);
        let req = |endpoint| V4Request {
            method: "GET",
            endpoint,
            bucket: "test-bucket",
            object: "test-object",
            expires_in: Duration::from_secs(v.expiration),
            time,
            headers: &[],
            query: &[],
        };
        let without_port = signed_url(&key, &req("http://localhost")).unwrap();
        assert!(without_port.ends_with(&format!("&X-Goog-Signature={published_signature}")), "{}", v.description);
        assert_eq!(endpoint(&v), "http://localhost:8080", "{}", v.description);
        let ours = v4_parts(&key.client_email, &req("http://localhost:8080"), UrlStyle::Path).unwrap();
        assert!(ours.canonical_request.contains("\nhost:localhost:8080\n"), "{}", ours.canonical_request);
        assert_eq!(ours.unsigned_url, published_unsigned, "{}", v.description);
    }
}

#[test]
fn the_throwaway_key_reads_as_published() {
    let key = key();
    assert_eq!(key.client_email, "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com");
    assert_eq!(key.private_key_id, "ffffffffffffffffffffffffffffffffffffffff");
    assert_eq!(key.project_id.as_deref(), Some("dummy-project-id"));
    assert_eq!(key.token_uri, "https://oauth2.googleapis.com/token");
    let shown = format!("{key:?}");
    assert!(!shown.contains("PRIVATE KEY") && !shown.contains("MIIEv"), "{shown}");
}
