//! Listing: order, prefixes, delimiters, start-after, pagination and tokens.

use bytes::Bytes;
use storage_core::{DriverExt, ListEntry};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, ensure_eq};

const G: &str = "listing";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, list_empty),
        case!(G, list_sorted_bytewise),
        case!(G, list_prefix),
        case!(G, list_prefix_partial),
        case!(G, list_prefix_no_match),
        case!(G, list_delimiter_top_level),
        case!(G, list_delimiter_nested),
        case!(G, list_delimiter_interleaved),
        case!(G, list_delimiter_partial_prefix),
        case!(G, list_start_after, ["start_after"]),
        case!(G, list_start_after_missing_key, ["start_after"]),
        case!(G, list_start_after_with_prefix, ["start_after"]),
        case!(G, list_pagination),
        case!(G, list_page_tokens),
        case!(G, list_pagination_delimiter),
        case!(G, list_any_delimiter, ["any_delimiter"]),
        case!(G, list_object_sizes),
        case!(G, list_many_default_page),
        case!(G, list_reflects_delete),
        case!(G, list_helper_list_keys),
        case!(G, list_helper_with_delimiter),
    ]
}

async fn list_empty(ctx: Ctx) -> CaseResult {
    ctx.expect_listing(ctx.under(""), &[]).await?;
    ctx.expect_listing(ctx.under("").with_delimiter("/"), &[]).await
}

async fn list_sorted_bytewise(ctx: Ctx) -> CaseResult {
    // "a-b" < "a/b" < "a0" pins '/' between '-' and '0'; "b" < "b-" < "bb" pins that a
    // prefix sorts first. (A key beside keys under it is `key_and_prefix_coexist`.)
    let names = ["b", "é", "a/b", "日本", "bb", "a-b", "B", "a0", "~", "b-"];
    ctx.put_all(&names).await?;
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort();
    ctx.expect_listing(ctx.under(""), &expected).await
}

async fn list_prefix(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["x/1", "x/2", "xy", "y/1", "w"]).await?;
    ctx.expect_listing(ctx.under("x/"), &["x/1", "x/2"]).await
}

async fn list_prefix_partial(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["x/1", "x/2", "xy", "y/1", "w"]).await?;
    ctx.expect_listing(ctx.under("x"), &["x/1", "x/2", "xy"]).await
}

async fn list_prefix_no_match(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["x/1", "y"]).await?;
    ctx.expect_listing(ctx.under("zzz"), &[]).await?;
    ctx.expect_listing(ctx.under("zzz").with_delimiter("/"), &[]).await
}

async fn list_delimiter_top_level(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]).await?;
    let entries = ctx.list(ctx.under("").with_delimiter("/")).await?;
    for e in &entries {
        if let ListEntry::Prefix(p) = e {
            ensure!(p.ends_with('/'), "the common prefix {p:?} does not end with the delimiter");
        }
    }
    ensure_eq(
        "listing with delimiter \"/\"",
        &ctx.render(&entries),
        &strings(&["a/ (prefix)", "b", "c/ (prefix)", "d"]),
    )
}

async fn list_delimiter_nested(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["a/1", "b", "c/x/1", "c/x/2", "c/y", "c/z/deep/1"]).await?;
    ctx.expect_listing(ctx.under("c/").with_delimiter("/"), &["c/x/ (prefix)", "c/y", "c/z/ (prefix)"]).await?;
    ctx.expect_listing(ctx.under("c/x/").with_delimiter("/"), &["c/x/1", "c/x/2"]).await
}

async fn list_delimiter_interleaved(ctx: Ctx) -> CaseResult {
    // '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30): the prefix "a/" sorts between
    // "a.b" and "a0".
    ctx.put_all(&["a0", "a/x", "a-b", "a/y/z", "a.b", "a~", "b/c"]).await?;
    let expected = ["a-b", "a.b", "a/ (prefix)", "a0", "a~", "b/ (prefix)"];
    ctx.expect_listing(ctx.under("").with_delimiter("/"), &expected).await
}

async fn list_delimiter_partial_prefix(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["a/1", "a/2", "ab", "ac/1", "ac/2", "b", "c/a"]).await?;
    ctx.expect_listing(ctx.under("a").with_delimiter("/"), &["a/ (prefix)", "ab", "ac/ (prefix)"]).await
}

async fn list_start_after(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["a", "b", "c", "d"]).await?;
    ctx.expect_listing(ctx.under("").with_start_after(ctx.k("b")), &["c", "d"]).await?;
    ctx.expect_listing(ctx.under("").with_start_after(ctx.k("d")), &[]).await
}

async fn list_start_after_missing_key(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["a", "b", "c", "d"]).await?;
    ctx.expect_listing(ctx.under("").with_start_after(ctx.k("bb")), &["c", "d"]).await?;
    ctx.expect_listing(ctx.under("").with_start_after(ctx.k("0")), &["a", "b", "c", "d"]).await
}

async fn list_start_after_with_prefix(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["sub/a", "sub/b", "sub/c", "other"]).await?;
    ctx.expect_listing(ctx.under("sub/").with_start_after(ctx.k("sub/a")), &["sub/b", "sub/c"]).await?;
    // A start-after before the prefix changes nothing; one past it leaves nothing.
    let below = ctx.prefix.trim_end_matches('/').to_owned();
    ctx.expect_listing(ctx.under("sub/").with_start_after(below), &["sub/a", "sub/b", "sub/c"]).await?;
    ctx.expect_listing(ctx.under("sub/").with_start_after(ctx.k("sub0")), &[]).await
}

const SEVEN: [&str; 7] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6"];

async fn list_pagination(ctx: Ctx) -> CaseResult {
    ctx.put_all(&SEVEN).await?;
    ctx.expect_listing(ctx.under("").with_page_size(2), &SEVEN).await?;
    ctx.expect_listing(ctx.under("").with_page_size(1), &SEVEN).await
}

async fn list_page_tokens(ctx: Ctx) -> CaseResult {
    ctx.put_all(&SEVEN).await?;
    for page_size in [2usize, 3] {
        let options = ctx.under("").with_page_size(page_size);
        let mut token: Option<String> = None;
        let mut seen: Vec<String> = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            ensure!(pages <= SEVEN.len() + 2, "list_page with page_size {page_size} keeps returning tokens");
            let page = ctx
                .d()
                .list_page(&ctx.container, &options, token.take())
                .await
                .or_fail(&format!("list_page (page {pages}, page_size {page_size})"))?;
            ensure!(
                page.items.len() <= page_size,
                "list_page returned {} entries with page_size {page_size}",
                page.items.len()
            );
            seen.extend(ctx.render(&page.items));
            match page.next_token {
                Some(t) => token = Some(t),
                None => {
                    ensure!(
                        seen.len() >= SEVEN.len(),
                        "page {pages} (page_size {page_size}) has no next_token although only {} of {} keys were listed",
                        seen.len(),
                        SEVEN.len()
                    );
                    break;
                }
            }
        }
        ensure!(pages >= SEVEN.len().div_ceil(page_size), "{pages} pages for 7 keys at page_size {page_size}");
        ensure_eq(&format!("keys over every page (page_size {page_size})"), &seen, &strings(&SEVEN))?;
    }
    Ok(())
}

async fn list_pagination_delimiter(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["a/1", "a/2", "a/3", "b", "c/1", "c/2", "d/1", "d/2/3", "e"]).await?;
    let expected = ["a/ (prefix)", "b", "c/ (prefix)", "d/ (prefix)", "e"];
    for page_size in [1usize, 2, 3] {
        ctx.expect_listing(ctx.under("").with_delimiter("/").with_page_size(page_size), &expected).await?;
    }
    Ok(())
}

async fn list_any_delimiter(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["x-1", "x-2", "y", "z-a-b", "z-c"]).await?;
    ctx.expect_listing(ctx.under("").with_delimiter("-"), &["x- (prefix)", "y", "z- (prefix)"]).await?;
    ctx.expect_listing(ctx.under("z-").with_delimiter("-"), &["z-a- (prefix)", "z-c"]).await
}

async fn list_object_sizes(ctx: Ctx) -> CaseResult {
    let sizes = [("s0", 0usize), ("s1", 1), ("s1000", 1000)];
    for (name, size) in sizes {
        ctx.put(name, Bytes::from(vec![b'x'; size])).await?;
    }
    let entries = ctx.list(ctx.under("")).await?;
    ensure_eq("listed names", &ctx.render(&entries), &strings(&["s0", "s1", "s1000"]))?;
    for (entry, (name, size)) in entries.iter().zip(sizes) {
        let Some(o) = entry.as_object() else {
            return Err(format!("{name:?} was listed as a prefix"));
        };
        ensure_eq(&format!("listed size of {name:?}"), &o.size, &(size as u64))?;
        ensure_eq(&format!("listed name of {name:?}"), &o.name, &ctx.k(name))?;
        ensure_eq(&format!("listed container of {name:?}"), &o.container, &ctx.container)?;
    }
    Ok(())
}

async fn list_many_default_page(ctx: Ctx) -> CaseResult {
    let names: Vec<String> = (0..25).map(|i| format!("many/{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    ctx.put_all(&refs).await?;
    ctx.expect_listing(ctx.under("many/"), &refs).await
}

async fn list_reflects_delete(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["keep", "gone", "keep2"]).await?;
    ctx.delete("gone").await?;
    ctx.expect_listing(ctx.under(""), &["keep", "keep2"]).await
}

async fn list_helper_list_keys(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["p/1", "p/2/3", "q"]).await?;
    let keys = ctx.d().list_keys(&ctx.container, Some(&ctx.k("p/"))).await.or_fail("list_keys")?;
    ensure_eq("list_keys under p/", &keys, &vec![ctx.k("p/1"), ctx.k("p/2/3")])?;
    let all = ctx.d().list_keys(&ctx.container, Some(&ctx.prefix)).await.or_fail("list_keys")?;
    ensure_eq("list_keys under the case prefix", &all, &vec![ctx.k("p/1"), ctx.k("p/2/3"), ctx.k("q")])
}

async fn list_helper_with_delimiter(ctx: Ctx) -> CaseResult {
    ctx.put_all(&["d/1", "d/2/3", "d/4/5/6", "e"]).await?;
    let (objects, prefixes) =
        ctx.d().list_with_delimiter(&ctx.container, Some(&ctx.k("d/"))).await.or_fail("list_with_delimiter")?;
    let names: Vec<String> = objects.into_iter().map(|o| o.name).collect();
    ensure_eq("objects from list_with_delimiter", &names, &vec![ctx.k("d/1")])?;
    ensure_eq("prefixes from list_with_delimiter", &prefixes, &vec![ctx.k("d/2/"), ctx.k("d/4/")])
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}
