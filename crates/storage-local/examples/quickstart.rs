//! Quick start on the local filesystem: copy a folder into a container, list it with a
//! delimiter, read one file back and check it byte for byte.
//!
//! ```sh
//! cargo run -p storage-local --example quickstart [SOURCE_DIR] [STORE_ROOT]
//! ```

use std::path::{Path, PathBuf};

use storage_core::UploadOptions;
use storage_core::{Driver, DriverExt, ErrorKind, ListEntry, ListOptions, PutOptions};
use storage_local::LocalDriver;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let source = args.next().map(PathBuf::from).unwrap_or_else(|| manifest.join("../storage-core/src"));
    let root = args.next().map(PathBuf::from).unwrap_or_else(|| manifest.join("../../target/quickstart-store"));

    let store = LocalDriver::new(&root)?;
    match store.create_container("quickstart").await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ContainerAlreadyExists => {}
        Err(e) => return Err(e.into()),
    }

    let files = files_under(&source)?;
    let mut bytes = 0;
    for path in &files {
        let rel = path.strip_prefix(&source)?.to_string_lossy().replace('\\', "/");
        let key = format!("src/{rel}");
        let obj = store
            .upload_object(path, "quickstart", &key, &UploadOptions::put(PutOptions::content_type("text/plain")))
            .await?;
        bytes += obj.size;
    }
    println!("uploaded {} files ({bytes} bytes) from {} into local://quickstart/src/", files.len(), source.display());

    println!("listing local://quickstart/src/ with delimiter '/':");
    let mut listing = store.list_objects("quickstart", ListOptions::prefix("src/").with_delimiter("/"));
    use futures::StreamExt;
    while let Some(entry) = listing.next().await {
        match entry? {
            ListEntry::Prefix(p) => println!("  {p:<40} (prefix)"),
            ListEntry::Object(o) => println!("  {:<40} {:>8} bytes  md5 {}", o.name, o.size, o.md5().unwrap_or("-")),
        }
    }

    let first = files.first().ok_or("the source folder holds no files")?;
    let rel = first.strip_prefix(&source)?.to_string_lossy().replace('\\', "/");
    let back = store.get_bytes("quickstart", &format!("src/{rel}")).await?;
    let original = std::fs::read(first)?;
    if back != original {
        return Err(format!("src/{rel} came back different").into());
    }
    println!("read back src/{rel}: {} bytes, identical to the original", back.len());
    println!("store root: {}", store.root().display());
    Ok(())
}
