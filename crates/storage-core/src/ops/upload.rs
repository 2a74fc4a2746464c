//! Uploads of files and streams, single-request or multipart.

use std::collections::VecDeque;
use std::path::Path;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};

use super::{Rechunker, TransferOptions};
use crate::capabilities::Limits;
use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::fsio::{file_stream, md5_file};
use crate::object::Object;
use crate::options::PutOptions;
use crate::payload::{ByteStream, Payload};

const READ_CHUNK: usize = 1 << 20;

/// The part size for an object of `length` bytes (unknown: `None`): the preferred size,
/// raised to the driver's minimum and to what fits in its maximum part count.
pub fn plan_part_size(length: Option<u64>, transfer: &TransferOptions, limits: &Limits) -> Result<u64> {
    let mut size = transfer.part_size.max(limits.min_part_size).max(1);
    if let Some(len) = length {
        size = size.max(len.div_ceil(u64::from(limits.max_parts.max(1))));
    }
    if size > limits.max_part_size {
        return Err(Error::new(
            ErrorKind::NotSupported,
            format!(
                "an object of {} bytes needs parts of {size} bytes, above the driver's maximum of {}",
                length.unwrap_or(0),
                limits.max_part_size
            ),
        ));
    }
    Ok(size)
}

fn verify(object: &Object, expected_len: u64, expected_md5: Option<&str>) -> Result<()> {
    if object.size != expected_len {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("the stored object has {} bytes but {expected_len} were sent", object.size),
        )
        .with_object(&object.container, &object.name));
    }
    if let (Some(want), Some(got)) = (expected_md5, object.md5())
        && !want.eq_ignore_ascii_case(got)
    {
        return Err(Error::new(
            ErrorKind::ObjectHashMismatch,
            format!("the stored object's MD5 is {got} but the data's is {want}"),
        )
        .with_object(&object.container, &object.name));
    }
    Ok(())
}

pub(super) async fn upload_file<D: Driver + ?Sized>(
    driver: &D,
    path: &Path,
    container: &str,
    key: &str,
    mut options: PutOptions,
    verify_hash: bool,
    transfer: &TransferOptions,
) -> Result<Object> {
    let open = || async {
        tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io(format!("opening {}", path.display()), e).with_object(container, key))
    };
    let file = open().await?;
    let len = file.metadata().await.map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?.len();
    let expected_md5 = if verify_hash { Some(md5_file(path).await?) } else { None };
    let info = driver.info();
    let object = if len <= transfer.single_put_threshold.min(info.limits.max_single_put) || !info.capabilities.multipart
    {
        if info.capabilities.put_content_md5 && options.content_md5.is_none() {
            options.content_md5 = expected_md5.clone();
        }
        let payload = Payload::stream(file_stream(file, READ_CHUNK), Some(len));
        driver.put_object(container, key, payload, &options).await?
    } else {
        let part_size = plan_part_size(Some(len), transfer, &info.limits)?;
        let mut chunks =
            Rechunker::new(file_stream(file, READ_CHUNK), usize::try_from(part_size).unwrap_or(usize::MAX));
        multipart(driver, container, key, &options, VecDeque::new(), &mut chunks, transfer.concurrency).await?
    };
    verify(&object, len, expected_md5.as_deref())?;
    Ok(object)
}

pub(super) async fn upload_stream<D: Driver + ?Sized>(
    driver: &D,
    stream: ByteStream,
    container: &str,
    key: &str,
    options: PutOptions,
    transfer: &TransferOptions,
) -> Result<Object> {
    let info = driver.info();
    if !info.capabilities.multipart {
        return driver.put_object(container, key, Payload::stream(stream, None), &options).await;
    }
    let part_size = plan_part_size(None, transfer, &info.limits)?;
    let mut chunks = Rechunker::new(stream, usize::try_from(part_size).unwrap_or(usize::MAX));
    let first = chunks.next_chunk().await?;
    let second = match &first {
        Some(_) => chunks.next_chunk().await?,
        None => None,
    };
    match (first, second) {
        (None, _) => driver.put_object(container, key, Payload::Bytes(Bytes::new()), &options).await,
        (Some(only), None) => driver.put_object(container, key, Payload::Bytes(only), &options).await,
        (Some(a), Some(b)) => {
            multipart(driver, container, key, &options, VecDeque::from([a, b]), &mut chunks, transfer.concurrency).await
        }
    }
}

/// Uploads `pending` then the rest of `chunks` as parts, `concurrency` at a time; aborts
/// the upload on any error so no parts are left behind.
async fn multipart<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    options: &PutOptions,
    mut pending: VecDeque<Bytes>,
    chunks: &mut Rechunker,
    concurrency: usize,
) -> Result<Object> {
    let upload = driver.create_multipart(container, key, options).await?;
    let max_parts = driver.info().limits.max_parts;
    let result = async {
        let mut in_flight = FuturesUnordered::new();
        let mut done = Vec::new();
        let mut part_number = 0u32;
        let mut eof = false;
        loop {
            while !eof && in_flight.len() < concurrency.max(1) {
                let next = match pending.pop_front() {
                    Some(b) => Some(b),
                    None => chunks.next_chunk().await?,
                };
                let Some(data) = next else {
                    eof = true;
                    break;
                };
                part_number += 1;
                if part_number > max_parts {
                    return Err(Error::new(
                        ErrorKind::NotSupported,
                        format!("the stream needs more than the driver's {max_parts} parts; raise part_size"),
                    ));
                }
                in_flight.push(driver.put_part(&upload, part_number, Payload::Bytes(data)));
            }
            match in_flight.next().await {
                Some(part) => done.push(part?),
                None => break,
            }
        }
        done.sort_by_key(|p: &crate::CompletedPart| p.part_number);
        driver.complete_multipart(&upload, &done).await
    }
    .await;
    if result.is_err()
        && let Err(e) = driver.abort_multipart(&upload).await
    {
        tracing::warn!(upload_id = %upload.upload_id, error = %e, "aborting a failed multipart upload failed");
    }
    result.map_err(|e| e.or_context(&driver.info().name, Some(container), Some(key)))
}
