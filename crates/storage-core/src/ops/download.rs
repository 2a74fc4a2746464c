//! Downloads to a local path: temporary file, verification, atomic rename.

use std::path::Path;

use futures::stream::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::fsio::{sync_dir, temp_path_beside};
use crate::hash::Md5Hasher;
use crate::object::Object;
use crate::options::GetOptions;

pub(super) async fn download_to_path<D: Driver + ?Sized>(
    driver: &D,
    container: &str,
    key: &str,
    dest: &Path,
    overwrite_existing: bool,
    delete_on_failure: bool,
) -> Result<Object> {
    if !overwrite_existing && tokio::fs::try_exists(dest).await.unwrap_or(false) {
        return Err(Error::new(
            ErrorKind::Io,
            format!("{} already exists; pass overwrite_existing to replace it", dest.display()),
        )
        .with_object(container, key));
    }
    let res = driver.get_object(container, key, &GetOptions::default()).await?;
    let tmp = temp_path_beside(dest);
    let outcome = write_verified(res, &tmp, dest).await;
    match outcome {
        Ok(object) => Ok(object),
        Err(e) => {
            if delete_on_failure {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            Err(e.or_context(&driver.info().name, Some(container), Some(key)))
        }
    }
}

async fn write_verified(mut res: crate::GetResult, tmp: &Path, dest: &Path) -> Result<Object> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await
        .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    let mut hasher = Md5Hasher::new();
    let mut written = 0u64;
    while let Some(chunk) = res.body.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        written += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    }
    file.sync_all().await.map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
    drop(file);
    let object = res.object;
    if written != object.size {
        return Err(Error::new(ErrorKind::Io, format!("the download ended after {written} of {} bytes", object.size)));
    }
    if let Some(want) = object.md5() {
        let got = hasher.finish_hex();
        if got != want {
            return Err(Error::new(
                ErrorKind::ObjectHashMismatch,
                format!("the downloaded data's MD5 is {got} but the object's is {want}"),
            ));
        }
    }
    tokio::fs::rename(tmp, dest)
        .await
        .map_err(|e| Error::io(format!("moving the download into {}", dest.display()), e))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir).await?;
    }
    Ok(object)
}
