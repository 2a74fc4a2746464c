//! ls, rm, cat, stat, mb, rb, presign.

use std::time::Duration;

use futures::StreamExt;
use storage::{
    ByteRange, DriverExt, ErrorKind, GetOptions, ListEntry, ListOptions, SignedMethod, SignedUrlOptions, Target,
};
use tokio::io::AsyncWriteExt;

use super::Ctx;
use crate::args::Method;
use crate::location::{Remote, container, object, open, remote};
use crate::output::{container_json, entry_json, object_json, size};
use crate::progress::Bar;
use crate::{CmdResult, Failure};

/// `ls`: containers, or objects under a prefix.
pub async fn ls(ctx: &Ctx, url: Option<&str>, long: bool, recursive: bool, human: bool) -> CmdResult {
    let target = match url {
        None => None,
        Some(u) => Some(open(&ctx.storage, u)?),
    };
    let (driver, container, prefix) = match target {
        None => (ctx.storage.default_backend().map_err(Failure::Config)?, None, String::new()),
        Some(Target::Path(p)) => {
            return Err(Failure::Usage(format!("{} is a local path; ls lists storage URLs", p.display())));
        }
        Some(Target::Remote { driver, container, key, .. }) => (driver, container, key.unwrap_or_default()),
    };
    let Some(container) = container else {
        let mut containers = driver.list_containers();
        while let Some(c) = containers.next().await {
            let c = c?;
            if ctx.json {
                ctx.json_line(&container_json(&c));
            } else {
                ctx.say(&c.name);
            }
        }
        return Ok(());
    };
    let mut opts = ListOptions::prefix(prefix);
    if !recursive {
        opts = opts.with_delimiter("/");
    }
    let mut entries = driver.list_objects(&container, opts);
    while let Some(e) = entries.next().await {
        let e = e?;
        if ctx.json {
            ctx.json_line(&entry_json(&container, &e));
            continue;
        }
        match (&e, long) {
            (ListEntry::Prefix(p), true) => ctx.say(format!("{:>12}  {:<25}  {p}", "PRE", "")),
            (ListEntry::Prefix(p), false) => ctx.say(p),
            (ListEntry::Object(o), true) => {
                let when = o.last_modified.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                ctx.say(format!("{:>12}  {when:<25}  {}", size(o.size, human), o.name));
            }
            (ListEntry::Object(o), false) => ctx.say(&o.name),
        }
    }
    Ok(())
}

/// `rm`: one object (`rm -r` is a tree command).
pub async fn rm(ctx: &Ctx, url: &str) -> CmdResult {
    let r = remote(&ctx.storage, url)?;
    if r.key.is_empty() {
        return Err(Failure::Usage(format!("{url} names a container; use rm -r to empty it or rb to remove it")));
    }
    // Deleting a missing object succeeds in storage semantics; rm reports it as an error.
    r.driver.head_object(&r.container, &r.key).await?;
    r.driver.delete_object(&r.container, &r.key).await?;
    if ctx.json {
        ctx.json_line(&serde_json::json!({"deleted": 1, "key": r.key}));
    }
    Ok(())
}

/// `cat`: an object, a range of it (`--offset`, `--count`) or its end (`--tail`) to stdout;
/// with `--version-id`, of that version (a key, never a path into an archive).
pub async fn cat(
    ctx: &Ctx,
    url: &str,
    offset: Option<u64>,
    count: Option<u64>,
    tail: Option<u64>,
    version: Option<String>,
) -> CmdResult {
    let r = object(&ctx.storage, url)?;
    if version.is_none()
        && let Some(a) = super::archive::member_of(&r).await?
    {
        let ranged = offset.is_some() || count.is_some() || tail.is_some();
        return super::archive::cat_member(&r, &a, ranged).await;
    }
    let range = match (offset, count, tail) {
        (_, Some(0), _) | (_, _, Some(0)) if version.is_some() => {
            // Nothing to print, but that version must exist.
            let options = GetOptions { version: version.clone(), ..Default::default() };
            let res = r.driver.get_object(&r.container, &r.key, &options).await?;
            return the_version_asked(&r, &res.object, version.as_deref());
        }
        (_, Some(0), _) | (_, _, Some(0)) => {
            // Nothing to print, but the object must exist.
            r.driver.head_object(&r.container, &r.key).await?;
            return Ok(());
        }
        (_, _, Some(n)) => Some(ByteRange::Suffix(n)),
        (None | Some(0), None, None) => None,
        (o, Some(c), None) => Some(ByteRange::Bounded { start: o.unwrap_or(0), end: o.unwrap_or(0).saturating_add(c) }),
        (Some(o), None, None) => Some(ByteRange::From(o)),
    };
    let options = GetOptions { range, version: version.clone(), ..Default::default() };
    let res = match r.driver.get_object(&r.container, &r.key, &options).await {
        Ok(res) => res,
        // A range starting at the end of the object (`--offset SIZE`, or a suffix of an
        // empty object) is empty, as with `tail -c +N`; past the end it is an error.
        Err(e) if e.kind() == ErrorKind::InvalidRange => {
            let size = r.driver.head_object(&r.container, &r.key).await?.size;
            let start = match range {
                Some(ByteRange::Bounded { start, .. } | ByteRange::From(start)) => start,
                _ => 0,
            };
            if start == size {
                return Ok(());
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    the_version_asked(&r, &res.object, version.as_deref())?;
    let bar = Bar::new(ctx, Some(res.object.size), &r.key);
    let mut out = tokio::io::stdout();
    let mut body = res.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if let Err(e) = out.write_all(&chunk).await {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(storage::Error::io("writing to stdout", e).into());
        }
        bar.inc(chunk.len() as u64);
    }
    out.flush().await.map_err(|e| storage::Error::io("writing to stdout", e))?;
    bar.finish();
    Ok(())
}

/// Refuses an answer that is not of `version` (when one was asked), as `cp --version-id`
/// does through the transfer engine: a backend that does not read versions must not get
/// another version's bytes printed as that one's.
fn the_version_asked(r: &Remote, object: &storage::Object, version: Option<&str>) -> CmdResult {
    storage::kit::check_version_answered(version, object.version.as_deref())
        .map_err(|e| Failure::Storage(e.or_context(&r.driver.info().name, Some(&r.container), Some(&r.key))))
}

/// `stat`: an object's metadata.
pub async fn stat(ctx: &Ctx, url: &str) -> CmdResult {
    let r = object(&ctx.storage, url)?;
    let o = r.driver.head_object(&r.container, &r.key).await?;
    if ctx.json {
        ctx.json_line(&object_json(&o));
        return Ok(());
    }
    ctx.say(format!("container:     {}", o.container));
    ctx.say(format!("key:           {}", o.name));
    ctx.say(format!("size:          {}", o.size));
    if let Some(h) = &o.hash {
        ctx.say(format!("hash:          {}:{}", h.algorithm.as_str(), h.value));
    }
    if let Some(e) = &o.etag {
        ctx.say(format!("etag:          {e}"));
    }
    if let Some(t) = o.last_modified {
        ctx.say(format!("last modified: {}", t.to_rfc3339()));
    }
    if let Some(c) = &o.content_type {
        ctx.say(format!("content type:  {c}"));
    }
    if let Some(v) = &o.version {
        ctx.say(format!("version:       {v}"));
    }
    for (k, v) in &o.metadata {
        ctx.say(format!("meta {k}: {v}"));
    }
    Ok(())
}

/// `mb`: make a container.
pub async fn mb(ctx: &Ctx, url: &str) -> CmdResult {
    let r = container(&ctx.storage, url)?;
    r.driver.create_container(&r.container).await?;
    if ctx.json {
        ctx.json_line(&serde_json::json!({"created": r.container}));
    } else {
        ctx.say(format!("created {}", r.container));
    }
    Ok(())
}

/// `rb`: remove a container (emptying it first with --force).
pub async fn rb(ctx: &Ctx, url: &str, force: bool) -> CmdResult {
    let r = container(&ctx.storage, url)?;
    if force {
        r.driver.delete_prefix(&r.container, "").await?;
    }
    r.driver.delete_container(&r.container).await?;
    if ctx.json {
        ctx.json_line(&serde_json::json!({"removed": r.container}));
    } else {
        ctx.say(format!("removed {}", r.container));
    }
    Ok(())
}

/// Parses `3600`, `30m`, `12h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, Failure> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .map(Duration::from_secs)
        .ok_or_else(|| Failure::Usage(format!("{s:?} is not a duration; use seconds or 30m, 12h, 7d")))
}

/// `presign`: a URL granting GET/PUT/DELETE on an object.
pub async fn presign(ctx: &Ctx, url: &str, expires_in: &str, method: Method) -> CmdResult {
    let r = object(&ctx.storage, url)?;
    let method = match method {
        Method::Get => SignedMethod::Get,
        Method::Put => SignedMethod::Put,
        Method::Delete => SignedMethod::Delete,
    };
    let opts = SignedUrlOptions { method, expires_in: parse_duration(expires_in)?, content_type: None };
    let signed = r.driver.signed_url(&r.container, &r.key, &opts).await?;
    if ctx.json {
        ctx.json_line(
            &serde_json::json!({"url": signed, "method": method.as_str(), "expires_in": opts.expires_in.as_secs()}),
        );
    } else {
        super::out(&signed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604800));
        assert!(parse_duration("soon").is_err());
    }
}
