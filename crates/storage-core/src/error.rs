//! The error type every driver returns, with Apache Libcloud's taxonomy of kinds.

use std::fmt;

/// Result alias used across the workspace.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the backend. Mirrors Libcloud's storage exceptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A container with that name already exists.
    ContainerAlreadyExists,
    /// The container does not exist.
    ContainerDoesNotExist,
    /// The container still holds objects and cannot be deleted.
    ContainerIsNotEmpty,
    /// The container name breaks the backend's naming rules.
    InvalidContainerName,
    /// The object does not exist.
    ObjectDoesNotExist,
    /// The data's hash differs from the one expected.
    ObjectHashMismatch,
    /// The object key is not acceptable (empty, too long, NUL, escapes its root...).
    InvalidObjectName,
    /// A condition (if-match, create-if-absent, if-unmodified-since) did not hold.
    PreconditionFailed,
    /// The object has not changed (if-none-match / if-modified-since).
    NotModified,
    /// The requested byte range cannot be satisfied.
    InvalidRange,
    /// The credentials are valid but do not allow this operation.
    PermissionDenied,
    /// The credentials are missing, wrong or expired.
    Unauthenticated,
    /// The driver or backend does not support this operation.
    NotSupported,
    /// The backend asked us to slow down.
    RateLimited,
    /// The operation took too long.
    Timeout,
    /// A local or network I/O failure.
    Io,
    /// The configuration is missing or invalid.
    Config,
    /// Any other failure reported by the backend.
    Backend,
    /// A local destination (a download's file) already exists and replacing it was not
    /// asked for (Libcloud's "overwrite_existing is set to false" error). Nothing was
    /// written.
    DestinationExists,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 19] = [
        ErrorKind::ContainerAlreadyExists,
        ErrorKind::ContainerDoesNotExist,
        ErrorKind::ContainerIsNotEmpty,
        ErrorKind::InvalidContainerName,
        ErrorKind::ObjectDoesNotExist,
        ErrorKind::ObjectHashMismatch,
        ErrorKind::InvalidObjectName,
        ErrorKind::PreconditionFailed,
        ErrorKind::NotModified,
        ErrorKind::InvalidRange,
        ErrorKind::PermissionDenied,
        ErrorKind::Unauthenticated,
        ErrorKind::NotSupported,
        ErrorKind::RateLimited,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Config,
        ErrorKind::Backend,
        ErrorKind::DestinationExists,
    ];

    /// A stable, human-readable name (the variant name).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ContainerAlreadyExists => "ContainerAlreadyExists",
            ErrorKind::ContainerDoesNotExist => "ContainerDoesNotExist",
            ErrorKind::ContainerIsNotEmpty => "ContainerIsNotEmpty",
            ErrorKind::InvalidContainerName => "InvalidContainerName",
            ErrorKind::ObjectDoesNotExist => "ObjectDoesNotExist",
            ErrorKind::ObjectHashMismatch => "ObjectHashMismatch",
            ErrorKind::InvalidObjectName => "InvalidObjectName",
            ErrorKind::PreconditionFailed => "PreconditionFailed",
            ErrorKind::NotModified => "NotModified",
            ErrorKind::InvalidRange => "InvalidRange",
            ErrorKind::PermissionDenied => "PermissionDenied",
            ErrorKind::Unauthenticated => "Unauthenticated",
            ErrorKind::NotSupported => "NotSupported",
            ErrorKind::RateLimited => "RateLimited",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::Io => "Io",
            ErrorKind::Config => "Config",
            ErrorKind::Backend => "Backend",
            ErrorKind::DestinationExists => "DestinationExists",
        }
    }

    /// What the caller can do about an error of this kind.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorKind::ContainerAlreadyExists => "choose another name or use the existing container",
            ErrorKind::ContainerDoesNotExist => "check the name or create the container first",
            ErrorKind::ContainerIsNotEmpty => "delete its objects first",
            ErrorKind::InvalidContainerName => "pick a name that follows the backend's naming rules",
            ErrorKind::ObjectDoesNotExist => "check the container and key",
            ErrorKind::ObjectHashMismatch => "the data was corrupted in transit or at rest; retry the transfer",
            ErrorKind::InvalidObjectName => "use a non-empty UTF-8 key without NUL that stays inside the container",
            ErrorKind::PreconditionFailed => "re-read the object and retry with its current ETag",
            ErrorKind::NotModified => "the cached copy is still current",
            ErrorKind::InvalidRange => "request a range inside the object's size",
            ErrorKind::PermissionDenied => "grant the credentials access to this resource",
            ErrorKind::Unauthenticated => "check the credentials and the clock",
            ErrorKind::NotSupported => "use another operation or another backend",
            ErrorKind::RateLimited => "retry later with fewer requests in flight",
            ErrorKind::Timeout => "retry, or raise the timeout",
            ErrorKind::Io => "check the local disk or the network",
            ErrorKind::Config => "fix the configuration",
            ErrorKind::Backend => "retry; if it persists, check the backend's status",
            ErrorKind::DestinationExists => "pass overwrite_existing to replace it, or choose another destination",
        }
    }

    /// Libcloud's `ContainerError` family.
    pub fn is_container_error(self) -> bool {
        matches!(
            self,
            ErrorKind::ContainerAlreadyExists
                | ErrorKind::ContainerDoesNotExist
                | ErrorKind::ContainerIsNotEmpty
                | ErrorKind::InvalidContainerName
        )
    }

    /// Libcloud's `ObjectError` family.
    pub fn is_object_error(self) -> bool {
        matches!(self, ErrorKind::ObjectDoesNotExist | ErrorKind::ObjectHashMismatch | ErrorKind::InvalidObjectName)
    }

    /// Whether an operation failing with this kind may succeed when retried unchanged.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::RateLimited | ErrorKind::Timeout | ErrorKind::Io)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

struct Inner {
    kind: ErrorKind,
    message: String,
    driver: Option<String>,
    container: Option<String>,
    key: Option<String>,
    status: Option<u16>,
    provider_code: Option<String>,
    request_id: Option<String>,
    retryable: bool,
    retries: u32,
    hint: Option<String>,
    source: Option<Source>,
}

/// A storage error: a kind plus the context a user needs to act on it.
///
/// The message never contains credentials; drivers must not put secrets, signatures or
/// signed URLs into it.
pub struct Error(Box<Inner>);

impl Error {
    /// A new error of `kind` with a message saying what happened.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            driver: None,
            container: None,
            key: None,
            status: None,
            provider_code: None,
            request_id: None,
            retryable: kind.is_transient(),
            retries: 0,
            hint: None,
            source: None,
        }))
    }

    /// `NotSupported` for `operation` on `driver`.
    pub fn not_supported(driver: &str, operation: &str) -> Self {
        Error::new(ErrorKind::NotSupported, format!("the {driver} driver does not support {operation}"))
            .with_driver(driver)
    }

    /// `ContainerDoesNotExist` for container `name` on `driver`.
    pub fn container_not_found(driver: &str, name: &str) -> Self {
        Error::new(ErrorKind::ContainerDoesNotExist, format!("container {name:?} does not exist"))
            .with_driver(driver)
            .with_container(name)
    }

    /// `ObjectDoesNotExist` for `key` in `container` on `driver`.
    pub fn object_not_found(driver: &str, container: &str, key: &str) -> Self {
        Error::new(ErrorKind::ObjectDoesNotExist, format!("object {key:?} does not exist"))
            .with_driver(driver)
            .with_object(container, key)
    }

    /// An I/O error with a message giving the context.
    pub fn io(message: impl Into<String>, source: std::io::Error) -> Self {
        let kind = match source.kind() {
            std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Io,
        };
        let hint = match source.kind() {
            std::io::ErrorKind::StorageFull => Some("the local disk is full: free some space and retry"),
            std::io::ErrorKind::PermissionDenied => {
                Some("check the local file's or directory's permissions (and that it is not read-only)")
            }
            std::io::ErrorKind::NotFound => Some("check the local path"),
            std::io::ErrorKind::ReadOnlyFilesystem => Some("the local filesystem is read-only: write elsewhere"),
            _ => None,
        };
        let message = format!("{}: {source}", message.into());
        let error = Error::new(kind, message).with_source(source);
        match hint {
            Some(h) => error.with_hint(h),
            None => error,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// What happened, without the context fields.
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// The driver that produced the error.
    pub fn driver(&self) -> Option<&str> {
        self.0.driver.as_deref()
    }
    /// The container concerned.
    pub fn container(&self) -> Option<&str> {
        self.0.container.as_deref()
    }
    /// The object key concerned.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }
    /// The HTTP status, for HTTP backends.
    pub fn status(&self) -> Option<u16> {
        self.0.status
    }
    /// The provider's own error code (`NoSuchKey`, `BlobNotFound`...).
    pub fn provider_code(&self) -> Option<&str> {
        self.0.provider_code.as_deref()
    }
    /// The provider's request id, to quote to its support.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
    }
    /// How many times the operation was retried before giving up.
    pub fn retries(&self) -> u32 {
        self.0.retries
    }
    /// What the caller can do about it: the hint set with [`Error::with_hint`], else the
    /// kind's [`ErrorKind::hint`].
    pub fn hint(&self) -> &str {
        self.0.hint.as_deref().unwrap_or_else(|| self.0.kind.hint())
    }
    /// Libcloud's `ContainerError` family.
    pub fn is_container_error(&self) -> bool {
        self.0.kind.is_container_error()
    }
    /// Libcloud's `ObjectError` family.
    pub fn is_object_error(&self) -> bool {
        self.0.kind.is_object_error()
    }
    /// What was named does not exist: `ObjectDoesNotExist` or `ContainerDoesNotExist`.
    pub fn is_not_found(&self) -> bool {
        matches!(self.0.kind, ErrorKind::ObjectDoesNotExist | ErrorKind::ContainerDoesNotExist)
    }
    /// What was to be created exists: `ContainerAlreadyExists`, a create-if-absent
    /// write or copy refused (`PreconditionFailed`), or a download's local destination
    /// (`DestinationExists`).
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::ContainerAlreadyExists | ErrorKind::PreconditionFailed | ErrorKind::DestinationExists
        )
    }
    /// A condition did not hold (`PreconditionFailed`) or a conditional read found the
    /// object unchanged (`NotModified`).
    pub fn is_precondition(&self) -> bool {
        matches!(self.0.kind, ErrorKind::PreconditionFailed | ErrorKind::NotModified)
    }
    /// The driver cannot do this at all (`NotSupported`).
    pub fn is_not_supported(&self) -> bool {
        self.0.kind == ErrorKind::NotSupported
    }
    /// Credentials are missing or wrong, or access was refused (`Unauthenticated`,
    /// `PermissionDenied`).
    pub fn is_auth(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Unauthenticated | ErrorKind::PermissionDenied)
    }

    /// Sets the driver name.
    pub fn with_driver(mut self, driver: impl Into<String>) -> Self {
        self.0.driver = Some(driver.into());
        self
    }
    /// Sets the container.
    pub fn with_container(mut self, container: impl Into<String>) -> Self {
        self.0.container = Some(container.into());
        self
    }
    /// Sets the object key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.0.key = Some(key.into());
        self
    }
    /// Sets container and key together.
    pub fn with_object(self, container: impl Into<String>, key: impl Into<String>) -> Self {
        self.with_container(container).with_key(key)
    }
    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status = Some(status);
        self
    }
    /// Sets the provider's error code.
    pub fn with_provider_code(mut self, code: impl Into<String>) -> Self {
        self.0.provider_code = Some(code.into());
        self
    }
    /// Sets the provider's request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.0.request_id = Some(id.into());
        self
    }
    /// Overrides whether the error is retryable.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.0.retryable = retryable;
        self
    }
    /// Records how many retries were made.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.0.retries = retries;
        self
    }
    /// Appends a sentence to the message (what was kept or cleaned up after the failure).
    pub fn with_note(mut self, note: impl AsRef<str>) -> Self {
        self.0.message = format!("{}; {}", self.0.message, note.as_ref());
        self
    }
    /// Replaces the kind's generic hint (what to do about it) with a more specific one.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }
    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }
    /// Fills driver/container/key only where they are not set yet.
    pub fn or_context(mut self, driver: &str, container: Option<&str>, key: Option<&str>) -> Self {
        if self.0.driver.is_none() {
            self.0.driver = Some(driver.to_owned());
        }
        if self.0.container.is_none() {
            self.0.container = container.map(str::to_owned);
        }
        if self.0.key.is_none() {
            self.0.key = key.map(str::to_owned);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(f, "{}: {}", e.kind, e.message)?;
        let mut ctx = Vec::new();
        if let Some(d) = &e.driver {
            ctx.push(format!("driver={d}"));
        }
        if let Some(c) = &e.container {
            ctx.push(format!("container={c:?}"));
        }
        if let Some(k) = &e.key {
            ctx.push(format!("key={k:?}"));
        }
        if let Some(s) = e.status {
            ctx.push(format!("status={s}"));
        }
        if let Some(c) = &e.provider_code {
            ctx.push(format!("code={c}"));
        }
        if let Some(r) = &e.request_id {
            ctx.push(format!("request_id={r}"));
        }
        if e.retries > 0 {
            ctx.push(format!("retries={}", e.retries));
        }
        if !ctx.is_empty() {
            write!(f, " ({})", ctx.join(", "))?;
        }
        write!(f, "; {}", self.hint())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        f.debug_struct("Error")
            .field("kind", &e.kind)
            .field("message", &e.message)
            .field("driver", &e.driver)
            .field("container", &e.container)
            .field("key", &e.key)
            .field("status", &e.status)
            .field("provider_code", &e.provider_code)
            .field("request_id", &e.request_id)
            .field("retryable", &e.retryable)
            .field("retries", &e.retries)
            .field("hint", &e.hint)
            .field("source", &e.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_ref().map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("I/O error", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_name_the_families_users_match_on() {
        let e = |k| Error::new(k, "x");
        assert!(e(ErrorKind::ObjectDoesNotExist).is_not_found() && e(ErrorKind::ContainerDoesNotExist).is_not_found());
        assert!(!e(ErrorKind::InvalidObjectName).is_not_found());
        assert!(e(ErrorKind::ContainerAlreadyExists).is_already_exists());
        assert!(e(ErrorKind::PreconditionFailed).is_already_exists() && e(ErrorKind::NotModified).is_precondition());
        assert!(e(ErrorKind::NotSupported).is_not_supported() && !e(ErrorKind::Backend).is_not_supported());
        assert!(e(ErrorKind::Unauthenticated).is_auth() && e(ErrorKind::PermissionDenied).is_auth());
        assert!(!e(ErrorKind::Timeout).is_auth());
    }

    #[test]
    fn display_carries_context_and_hint() {
        let e = Error::new(ErrorKind::ObjectDoesNotExist, "no such object")
            .with_driver("memory")
            .with_object("bkt", "a/b")
            .with_status(404);
        let s = e.to_string();
        assert!(s.starts_with("ObjectDoesNotExist: no such object"), "{s}");
        assert!(s.contains("container=\"bkt\""), "{s}");
        assert!(s.contains("key=\"a/b\""), "{s}");
        assert!(s.ends_with(ErrorKind::ObjectDoesNotExist.hint()), "{s}");
        assert!(e.is_object_error());
        assert!(!e.is_container_error());
        assert!(!e.is_retryable());
    }

    #[test]
    fn families_match_libcloud() {
        let containers: Vec<_> = ErrorKind::ALL.iter().filter(|k| k.is_container_error()).collect();
        let objects: Vec<_> = ErrorKind::ALL.iter().filter(|k| k.is_object_error()).collect();
        assert_eq!(containers.len(), 4);
        assert_eq!(objects.len(), 3);
        assert!(ErrorKind::RateLimited.is_transient());
    }

    #[test]
    fn local_io_errors_get_hints_about_the_local_disk() {
        let full = Error::io("writing out.bin", std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(full.to_string().ends_with("the local disk is full: free some space and retry"), "{full}");
        let denied = Error::io("opening x", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
        assert!(!denied.to_string().contains("credentials"), "{denied}");
    }

    #[test]
    fn a_specific_hint_replaces_the_kinds() {
        let e = Error::new(ErrorKind::PermissionDenied, "x");
        assert_eq!(e.hint(), ErrorKind::PermissionDenied.hint());
        let e = e.with_hint("remove the link");
        assert_eq!(e.hint(), "remove the link");
        let s = e.to_string();
        assert!(s.ends_with("; remove the link") && !s.contains(ErrorKind::PermissionDenied.hint()), "{s}");
    }

    #[test]
    fn or_context_keeps_existing_fields() {
        let e = Error::new(ErrorKind::Io, "x").with_key("k1").or_context("local", Some("c"), Some("k2"));
        assert_eq!(e.key(), Some("k1"));
        assert_eq!(e.container(), Some("c"));
        assert_eq!(e.driver(), Some("local"));
    }
}
