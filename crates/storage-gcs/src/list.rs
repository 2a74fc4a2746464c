//! `objects.list`, one page at a time. Start-after is `startOffset` (inclusive) with the
//! key itself dropped; the staging area of composite uploads is never listed.

use http::Method;
use storage_core::{ListEntry, ListOptions, Page, Result};
use storage_http::http;

use crate::client::Call;
use crate::driver::GcsDriver;
use crate::json::Objects;
use crate::{containers, multipart};

/// Most entries in one page.
pub(crate) const MAX_PAGE: usize = 1000;

/// One page, objects and prefixes merged in key order.
pub(crate) async fn page(
    d: &GcsDriver,
    bucket: &str,
    options: &ListOptions,
    token: Option<String>,
) -> Result<Page<ListEntry>> {
    d.check_bucket(bucket)?;
    let size = options.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let prefix = options.prefix.as_deref().unwrap_or("");
    // The staging area shows only when asked for by name.
    let hide_staging = !prefix.starts_with(multipart::STAGING);
    let mut token = token;
    loop {
        let mut call = Call::bucket("ListObjects", Method::GET, bucket, "/o").query("maxResults", size.to_string());
        if !prefix.is_empty() {
            call = call.query("prefix", prefix);
        }
        if let Some(delim) = options.delimiter.as_deref().filter(|d| !d.is_empty()) {
            call = call.query("delimiter", delim);
        }
        if let Some(s) = &options.start_after {
            call = call.query("startOffset", s.clone());
        }
        if let Some(t) = &token {
            call = call.query("pageToken", t.clone());
        }
        let page: Objects = match d.client.send_json(call).await {
            Ok(p) => p,
            Err(e) => return Err(containers::refine_not_found(d, e, bucket).await),
        };
        let after = options.start_after.as_deref();
        let keep =
            |name: &str| after.is_none_or(|a| name > a) && !(hide_staging && name.starts_with(multipart::STAGING));
        let mut items: Vec<ListEntry> = Vec::with_capacity(page.items.len() + page.prefixes.len());
        items
            .extend(page.items.into_iter().filter(|o| keep(&o.name)).map(|o| ListEntry::Object(o.into_object(bucket))));
        for p in page.prefixes {
            if keep(&p) {
                items.push(ListEntry::Prefix(p));
            } else if let Some(a) = after
                && a.starts_with(p.as_str())
                && any_after(d, bucket, &p, a).await?
            {
                // The prefix that holds start-after stays when a key under it comes later.
                items.push(ListEntry::Prefix(p));
            }
        }
        items.sort_by(|a, b| key(a).cmp(key(b)));
        if !items.is_empty() || page.next_page_token.is_none() {
            return Ok(Page { items, next_token: page.next_page_token });
        }
        token = page.next_page_token;
    }
}

/// Whether a key under `prefix` sorts after `after`.
async fn any_after(d: &GcsDriver, bucket: &str, prefix: &str, after: &str) -> Result<bool> {
    let call = Call::bucket("ListObjects", Method::GET, bucket, "/o")
        .query("prefix", prefix)
        .query("startOffset", after)
        .query("maxResults", "2");
    let page: Objects = d.client.send_json(call).await?;
    Ok(page.items.iter().any(|o| o.name.as_str() > after))
}

fn key(e: &ListEntry) -> &str {
    match e {
        ListEntry::Object(o) => &o.name,
        ListEntry::Prefix(p) => p,
    }
}
