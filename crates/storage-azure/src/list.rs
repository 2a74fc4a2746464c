//! List Blobs, one page at a time, with start-after done by key comparison (the service
//! has no such parameter; its markers are opaque).

use http::Method;
use storage_core::{ListEntry, ListOptions, Object, ObjectHash, Page, Result};
use storage_http::http;

use crate::checksum;
use crate::client::Call;
use crate::driver::{AzureDriver, NAME};
use crate::headers::md5_hex_from_b64;
use crate::xml::{BlobItem, BlobList};

/// Most entries the service returns in one page.
pub(crate) const MAX_PAGE: usize = 5000;

async fn fetch(
    d: &AzureDriver,
    container: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    size: usize,
    marker: Option<String>,
) -> Result<BlobList> {
    let mut call = Call::new("ListBlobs", Method::GET, Some(container), None)
        .query("restype", "container")
        .query("comp", "list")
        .query("include", "metadata")
        .query("maxresults", size.to_string());
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        call = call.query("prefix", p);
    }
    if let Some(delim) = delimiter.filter(|d| !d.is_empty()) {
        call = call.query("delimiter", delim);
    }
    if let Some(m) = marker {
        call = call.query("marker", m);
    }
    let body = d.client.send(call).await?.bytes().await?;
    BlobList::parse(&body).map_err(|e| e.or_context(NAME, Some(container), None))
}

/// One page of List Blobs, objects and prefixes merged in key order. With `start_after`,
/// entries at or before it are dropped (pages that hold nothing after it are skipped),
/// and the prefix that contains `start_after` is kept only if some key under it comes
/// after `start_after`, as S3 does.
pub(crate) async fn page(
    d: &AzureDriver,
    container: &str,
    options: &ListOptions,
    token: Option<String>,
) -> Result<Page<ListEntry>> {
    d.check_container(container)?;
    let size = options.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let mut marker = token;
    loop {
        let list = fetch(d, container, options.prefix.as_deref(), options.delimiter.as_deref(), size, marker).await?;
        let next = list.next_marker.clone();
        let mut items = merge(container, list);
        if let Some(after) = options.start_after.as_deref() {
            let mut kept = Vec::with_capacity(items.len());
            for entry in items {
                match &entry {
                    ListEntry::Object(o) if o.name.as_str() > after => kept.push(entry),
                    ListEntry::Prefix(p) if p.as_str() > after => kept.push(entry),
                    ListEntry::Prefix(p)
                        if after.starts_with(p.as_str()) && any_after(d, container, p, after).await? =>
                    {
                        kept.push(entry)
                    }
                    _ => {}
                }
            }
            items = kept;
        }
        if !items.is_empty() || next.is_none() {
            return Ok(Page { items, next_token: next });
        }
        marker = next;
    }
}

/// Whether a key under `prefix` sorts after `after`.
async fn any_after(d: &AzureDriver, container: &str, prefix: &str, after: &str) -> Result<bool> {
    let mut marker = None;
    loop {
        let list = fetch(d, container, Some(prefix), None, MAX_PAGE, marker).await?;
        if list.blobs.iter().any(|b| b.name.as_str() > after) {
            return Ok(true);
        }
        match list.next_marker {
            Some(m) => marker = Some(m),
            None => return Ok(false),
        }
    }
}

/// An `Object` from a listing entry.
pub(crate) fn object_of(container: &str, mut b: BlobItem) -> Object {
    let mut o = Object::new(container, b.name, b.size);
    // The blob's MD5, else the whole blob's CRC32C this driver keeps in its metadata.
    let crc = checksum::take_stored(&mut b.metadata, b.size);
    o.hash = b.content_md5.as_deref().and_then(md5_hex_from_b64).map(ObjectHash::md5).or(crc.map(ObjectHash::crc32c));
    o.etag = b.etag;
    o.last_modified = b.last_modified;
    o.content_type = b.content_type;
    o.content_encoding = b.content_encoding;
    o.cache_control = b.cache_control;
    o.content_disposition = b.content_disposition;
    o.version = b.version_id;
    o.metadata = b.metadata;
    if let Some(t) = b.access_tier {
        o.extra.insert("storage_class".into(), t.clone());
        o.extra.insert("access_tier".into(), t);
    }
    o
}

/// Blobs and prefixes of one page as one list in key order (Azurite sends every prefix
/// before the blobs of a page).
fn merge(container: &str, l: BlobList) -> Vec<ListEntry> {
    let mut out: Vec<ListEntry> = Vec::with_capacity(l.blobs.len() + l.prefixes.len());
    out.extend(l.blobs.into_iter().map(|b| ListEntry::Object(object_of(container, b))));
    out.extend(l.prefixes.into_iter().map(ListEntry::Prefix));
    out.sort_by(|a, b| entry_key(a).cmp(entry_key(b)));
    out
}

fn entry_key(e: &ListEntry) -> &str {
    match e {
        ListEntry::Object(o) => &o.name,
        ListEntry::Prefix(p) => p,
    }
}
