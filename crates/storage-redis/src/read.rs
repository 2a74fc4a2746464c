//! Reads: metadata, and data streamed chunk by chunk (only the chunks a range needs,
//! GETRANGE for partial ones). A read follows the chunks of the one version its metadata
//! names, so it never mixes data of two versions.
//!
//! Separate from writes because reads never change state: they follow metadata to
//! chunks, and explain a chunk that vanished underneath them (copies reuse the stream).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use storage_core::kit::{Error, ErrorKind, Result};
use storage_core::{ByteStream, GetOptions, GetResult, Object};

use crate::core::{Inner, NAME};
use crate::errors::{ctx, no_container, no_object};
use crate::keys::chunk_key;
use crate::meta::ObjectMeta;

/// Chunk reads in flight ahead of the consumer.
const READ_AHEAD: usize = 2;

/// One chunk read: bytes `from..to` of the chunk `key` (`whole` if that is all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece {
    pub key: String,
    pub from: u64,
    pub to: u64,
    pub whole: bool,
}

/// The chunk reads that return `range` of the object described by `meta`, in order.
pub(crate) fn plan(tag: &str, meta: &ObjectMeta, range: &Range<u64>) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut seg_start = 0u64;
    for seg in &meta.segments {
        let seg_end = seg_start + seg.size;
        if seg_end > range.start && seg_start < range.end && seg.chunk > 0 {
            let first = (range.start.max(seg_start) - seg_start) / seg.chunk;
            for i in first..seg.chunks() {
                let a = seg_start + i * seg.chunk;
                if a >= range.end {
                    break;
                }
                let len = seg.chunk_len(i);
                let from = range.start.max(a) - a;
                let to = range.end.min(a + len) - a;
                pieces.push(Piece { key: chunk_key(tag, &seg.stem, i), from, to, whole: from == 0 && to == len });
            }
        }
        seg_start = seg_end;
        if seg_start >= range.end {
            break;
        }
    }
    pieces
}

impl Inner {
    /// The object's metadata; `ContainerDoesNotExist` / `ObjectDoesNotExist` if absent.
    pub(crate) async fn load_meta(&self, container: &str, key: &str) -> Result<ObjectMeta> {
        let (meta_key, info) = (self.keys.meta(container), self.keys.info(container));
        let (meta_key, info) = (&meta_key, &info);
        let (json, exists): (Option<Vec<u8>>, bool) = self
            .run(move |mut c| async move {
                redis::pipe().cmd("HGET").arg(meta_key).arg(key).cmd("EXISTS").arg(info).query_async(&mut c).await
            })
            .await
            .map_err(ctx(container, Some(key)))?;
        match json {
            Some(j) => ObjectMeta::parse(&j).map_err(ctx(container, Some(key))),
            None if !exists => Err(no_container(container)),
            None => Err(no_object(container, key)),
        }
    }

    pub(crate) async fn head(&self, container: &str, key: &str) -> Result<Object> {
        self.check_key(container, key)?;
        Ok(self.load_meta(container, key).await?.to_object(container, key))
    }

    pub(crate) async fn get(self: &Arc<Self>, container: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
        self.check_key(container, key)?;
        let meta = self.load_meta(container, key).await?;
        if let Some(v) = &options.version
            && &meta.version != v
        {
            return Err(no_object(container, key).with_provider_code("NoSuchVersion"));
        }
        options.check_conditions(Some(&meta.etag), Some(meta.last_modified)).map_err(ctx(container, Some(key)))?;
        let range = match &options.range {
            Some(r) => r.resolve(meta.size).map_err(ctx(container, Some(key)))?,
            None => 0..meta.size,
        };
        let body = body(self.clone(), container, key, &meta, range.clone());
        Ok(GetResult { object: meta.to_object(container, key), range, body })
    }

    /// Reads one piece; a missing or short chunk is explained by [`Self::missing_chunk`].
    async fn fetch(&self, container: &str, key: &str, version: &str, piece: &Piece) -> Result<Bytes> {
        let data: Option<Vec<u8>> = self
            .run(move |mut c| async move {
                if piece.whole {
                    redis::cmd("GET").arg(&piece.key).query_async(&mut c).await
                } else {
                    let v: Vec<u8> = redis::cmd("GETRANGE")
                        .arg(&piece.key)
                        .arg(piece.from)
                        .arg(piece.to - 1)
                        .query_async(&mut c)
                        .await?;
                    Ok(Some(v))
                }
            })
            .await
            .map_err(ctx(container, Some(key)))?;
        match data {
            Some(d) if d.len() as u64 == piece.to - piece.from => Ok(Bytes::from(d)),
            _ => Err(self.missing_chunk(container, key, version, &piece.key).await),
        }
    }

    /// Why a chunk is gone: the object was replaced or deleted and the old data's grace
    /// period ran out (retryable), or data was lost (not retryable).
    async fn missing_chunk(&self, container: &str, key: &str, version: &str, chunk: &str) -> Error {
        match self.load_meta(container, key).await {
            Ok(m) if m.version == version => Error::new(
                ErrorKind::Backend,
                format!(
                    "data chunk {chunk:?} of the current version is missing: data was lost (Redis must run with \
                     maxmemory-policy noeviction and persistence)"
                ),
            )
            .with_provider_code("ChunkMissing"),
            Ok(_) | Err(_) => Error::new(
                ErrorKind::Backend,
                "the object was replaced or deleted while it was being read, and the old data's grace period \
                 ended; read it again",
            )
            .with_provider_code("ObjectChanged")
            .with_retryable(true),
        }
        .with_driver(NAME)
        .with_object(container, key)
    }
}

/// A lazy stream of `range` of the object `meta` describes, reading a chunk or two ahead.
pub(crate) fn body(inner: Arc<Inner>, container: &str, key: &str, meta: &ObjectMeta, range: Range<u64>) -> ByteStream {
    let pieces = plan(&inner.keys.object_tag(container, key), meta, &range);
    let (container, key, version) = (container.to_owned(), key.to_owned(), meta.version.clone());
    stream::iter(pieces)
        .map(move |piece| {
            let (inner, container, key, version) = (inner.clone(), container.clone(), key.clone(), version.clone());
            async move { inner.fetch(&container, &key, &version, &piece).await }
        })
        .buffered(READ_AHEAD)
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Segment;
    use storage_core::PutOptions;

    fn meta(segments: Vec<Segment>) -> ObjectMeta {
        let size = segments.iter().map(|s| s.size).sum();
        ObjectMeta::new(size, None, "e".into(), &PutOptions::default(), "1".into(), segments)
    }

    #[test]
    fn plans_only_the_needed_chunks() {
        let m = meta(vec![Segment { stem: "v1".into(), size: 10, chunk: 4 }]);
        let p = plan("{t}", &m, &(0..10));
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|x| x.whole));
        let p = plan("{t}", &m, &(3..5));
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].key.as_str(), p[0].from, p[0].to, p[0].whole), ("{t}:v1:0", 3, 4, false));
        assert_eq!((p[1].key.as_str(), p[1].from, p[1].to, p[1].whole), ("{t}:v1:1", 0, 1, false));
        let p = plan("{t}", &m, &(8..10));
        assert_eq!(p, vec![Piece { key: "{t}:v1:2".into(), from: 0, to: 2, whole: true }]);
    }

    #[test]
    fn plans_across_segments() {
        let m = meta(vec![
            Segment { stem: "a".into(), size: 5, chunk: 4 },
            Segment { stem: "b".into(), size: 3, chunk: 2 },
        ]);
        let p = plan("{t}", &m, &(3..7));
        let keys: Vec<_> = p.iter().map(|x| (x.key.as_str(), x.from, x.to)).collect();
        assert_eq!(keys, vec![("{t}:a:0", 3, 4), ("{t}:a:1", 0, 1), ("{t}:b:0", 0, 2)]);
        assert!(plan("{t}", &meta(vec![]), &(0..0)).is_empty());
    }
}
