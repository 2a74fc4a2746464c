//! Awkward keys: each is written, read back byte-exact, headed, found exactly in a
//! listing, and deleted.

use bytes::Bytes;

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, ensure_eq};

const G: &str = "keys";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, key_unicode),
        case!(G, key_spaces),
        case!(G, key_plus, ["verbatim_keys"]),
        case!(G, key_percent),
        case!(G, key_question_mark),
        case!(G, key_hash),
        case!(G, key_equals),
        case!(G, key_ampersand),
        case!(G, key_tilde),
        case!(G, key_punctuation),
        case!(G, key_encoded_slash, ["verbatim_keys"]),
        case!(G, key_encoded_percent, ["verbatim_keys"]),
        case!(G, key_double_slash, ["verbatim_keys"]),
        case!(G, key_trailing_slash, ["verbatim_keys"]),
        case!(G, key_dot_segment, ["verbatim_keys"]),
        case!(G, key_dots),
        case!(G, key_max_length, ["verbatim_keys"]),
        case!(G, key_deep_path),
        case!(G, key_and_prefix_coexist, ["key_and_prefix"]),
    ]
}

/// The full check for one awkward key (relative to the case prefix).
async fn awkward(ctx: &Ctx, name: &str) -> CaseResult {
    let key = ctx.k(name);
    let body = Bytes::from(format!("the data stored under {name:?}\n").into_bytes());
    let put = ctx.put(name, body.clone()).await?;
    ensure_eq("the name returned by put_object", &put.name, &key)?;
    ctx.expect_data(name, &body).await?;
    let head = ctx.head(name).await?;
    ensure_eq("the name returned by head_object", &head.name, &key)?;
    ensure_eq("the size returned by head_object", &head.size, &(body.len() as u64))?;
    let listed = ctx.list(ctx.under("")).await?;
    let names: Vec<&str> = listed.iter().map(|e| e.name()).collect();
    ensure!(names == [key.as_str()], "the listing under the case prefix should hold exactly {key:?}, got {names:?}");
    ensure!(listed[0].as_object().is_some(), "{key:?} was listed as a common prefix, not an object");
    let exact = ctx.list(storage_core::ListOptions::prefix(key.clone())).await?;
    ensure!(
        exact.iter().filter(|e| e.name() == key).count() == 1,
        "listing with the key itself as prefix does not return it exactly once"
    );
    ctx.delete(name).await?;
    ctx.expect_absent(name).await?;
    let after = ctx.list(ctx.under("")).await?;
    ensure!(after.is_empty(), "after deleting {key:?} the listing still holds {:?}", ctx.render(&after));
    Ok(())
}

async fn key_unicode(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "ünï/日本/😀").await
}

async fn key_spaces(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "with space/and  two").await
}

async fn key_plus(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "a+b").await
}

async fn key_percent(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "100% sure").await
}

async fn key_question_mark(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "what?now").await
}

async fn key_hash(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "issue#42").await
}

async fn key_equals(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "a=b").await
}

async fn key_ampersand(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "this&that").await
}

async fn key_tilde(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "~user/file~").await
}

async fn key_punctuation(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "a!$'(),;@[]{}^`|b").await
}

async fn key_encoded_slash(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "a%2Fb").await
}

async fn key_encoded_percent(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "%25").await
}

async fn key_double_slash(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "a//b").await
}

async fn key_trailing_slash(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "dir/").await
}

async fn key_dot_segment(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "a/./b").await
}

async fn key_dots(ctx: Ctx) -> CaseResult {
    awkward(&ctx, "...").await
}

async fn key_max_length(ctx: Ctx) -> CaseResult {
    let total = ctx.limits.max_key_length.min(1024);
    ensure!(total > ctx.prefix.len() + 1, "max_key_length {total} leaves no room after the case prefix");
    // Segments of at most 100 bytes: the total length is what is tested, not a file
    // system's limit on one path component.
    let mut name = String::new();
    while ctx.prefix.len() + name.len() < total {
        let room = total - ctx.prefix.len() - name.len();
        if room == 1 {
            name.push('z');
        } else if name.len() % 101 == 100 {
            name.push('/');
        } else {
            name.push('k');
        }
    }
    ensure_eq("the key length", &ctx.k(&name).len(), &total)?;
    awkward(&ctx, &name).await
}

async fn key_deep_path(ctx: Ctx) -> CaseResult {
    let name = (1..=20).map(|i| format!("d{i}")).collect::<Vec<_>>().join("/");
    awkward(&ctx, &name).await
}

async fn key_and_prefix_coexist(ctx: Ctx) -> CaseResult {
    // Object stores hold "a" and "a/b" side by side; a driver mapping keys onto a
    // directory tree must too.
    ctx.put("a", Bytes::from_static(b"the file")).await?;
    ctx.put("a/b", Bytes::from_static(b"under it")).await?;
    ctx.expect_data("a", b"the file").await?;
    ctx.expect_data("a/b", b"under it").await?;
    ctx.expect_listing(ctx.under(""), &["a", "a/b"]).await?;
    ctx.expect_listing(ctx.under("").with_delimiter("/"), &["a", "a/ (prefix)"]).await?;
    ctx.delete("a").await?;
    ctx.expect_data("a/b", b"under it").await?;
    ctx.put("a", Bytes::from_static(b"again")).await?;
    ctx.delete("a/b").await?;
    ctx.expect_data("a", b"again").await?;
    ctx.expect_listing(ctx.under(""), &["a"]).await
}
