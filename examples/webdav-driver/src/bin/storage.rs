//! The `storage` command line with every built-in backend plus `webdav://`, `webdavs://`
//! and the read-only `http://` / `https://` store: the whole binary a vendor ships.

fn main() -> std::process::ExitCode {
    let mut registry = storage::registry();
    registry.register(std::sync::Arc::new(storage_webdav::WebDavFactory));
    registry.register(std::sync::Arc::new(storage_webdav::HttpFactory));
    storage_cli::main_with(registry)
}
