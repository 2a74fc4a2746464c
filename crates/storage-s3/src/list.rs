//! ListObjectsV2, one page at a time.

use http::Method;
use storage_core::{ListEntry, ListOptions, Object, Page, Result};
use storage_http::http;

use crate::client::Call;
use crate::driver::{NAME, S3Driver};
use crate::headers::hash_from_etag;
use crate::xml::ListBucketResult;

/// One page of ListObjectsV2 (keys URL-encoded on the wire, decoded here), objects and
/// common prefixes merged in key order.
pub(crate) async fn page(
    d: &S3Driver,
    container: &str,
    options: &ListOptions,
    token: Option<String>,
) -> Result<Page<ListEntry>> {
    d.check_bucket(container)?;
    let page = options.page_size.unwrap_or(1000).clamp(1, 1000);
    let mut call = Call::new("ListObjectsV2", Method::GET, Some(container), None)
        .query("list-type", "2")
        .query("encoding-type", "url")
        .query("max-keys", page.to_string());
    if let Some(p) = options.prefix.as_deref().filter(|p| !p.is_empty()) {
        call = call.query("prefix", p);
    }
    if let Some(delim) = options.delimiter.as_deref().filter(|d| !d.is_empty()) {
        call = call.query("delimiter", delim);
    }
    if let Some(s) = &options.start_after {
        call = call.query("start-after", s.clone());
    }
    if let Some(t) = token {
        call = call.query("continuation-token", t);
    }
    let body = d.client.send(call).await?.bytes().await?;
    let result = ListBucketResult::parse(&body).map_err(|e| e.or_context(NAME, Some(container), None))?;
    let next_token = if result.truncated { result.next_token.clone() } else { None };
    Ok(Page { items: merge(container, result), next_token })
}

/// Objects and prefixes of one page as one list in key order.
fn merge(bucket: &str, r: ListBucketResult) -> Vec<ListEntry> {
    let mut out = Vec::with_capacity(r.objects.len() + r.prefixes.len());
    let mut objects = r.objects.into_iter().peekable();
    let mut prefixes = r.prefixes.into_iter().peekable();
    loop {
        let take_object = match (objects.peek(), prefixes.peek()) {
            (Some(o), Some(p)) => o.key.as_str() < p.as_str(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        if take_object {
            if let Some(o) = objects.next() {
                let mut obj = Object::new(bucket, o.key, o.size);
                obj.hash = o.etag.as_deref().map(hash_from_etag);
                obj.etag = o.etag;
                obj.last_modified = o.last_modified;
                out.push(ListEntry::Object(obj));
            }
        } else if let Some(p) = prefixes.next() {
            out.push(ListEntry::Prefix(p));
        }
    }
}
