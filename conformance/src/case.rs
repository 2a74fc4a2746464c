//! A conformance case: a name, a group, the capabilities it needs, and its body.

use futures::future::BoxFuture;

use crate::context::Ctx;

/// What a case body returns: `Err` carries a detail saying what was expected and what
/// happened.
pub(crate) type CaseResult = Result<(), String>;

/// The body of a case.
pub(crate) type CaseFn = fn(Ctx) -> BoxFuture<'static, CaseResult>;

/// One named check of the suite.
///
/// A case runs only when every capability in [`Case::needs`] is on (after the
/// [`crate::RunConfig::overrides`]) and every capability in [`Case::needs_off`] is off in
/// the driver's own declaration (such cases check the `NotSupported` answer).
#[derive(Clone)]
pub struct Case {
    /// Unique snake_case name.
    pub name: &'static str,
    /// The group (module) it belongs to: `objects`, `listing`, `ranges`...
    pub group: &'static str,
    pub(crate) needs: &'static [&'static str],
    pub(crate) needs_off: &'static [&'static str],
    pub(crate) run: CaseFn,
}

impl Case {
    /// The capabilities (field names of [`storage_core::Capabilities`]) that must be on.
    pub fn needs(&self) -> &'static [&'static str] {
        self.needs
    }

    /// The capabilities the driver must declare off (the case checks `NotSupported`).
    pub fn needs_off(&self) -> &'static [&'static str] {
        self.needs_off
    }
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("group", &self.group)
            .field("needs", &self.needs)
            .field("needs_off", &self.needs_off)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Case`] from an `async fn name(ctx: Ctx) -> CaseResult`.
///
/// `case!(GROUP, fn_name)`, `case!(GROUP, fn_name, ["cap", ...])`,
/// `case!(GROUP, fn_name, ["cap", ...], not ["cap", ...])`.
macro_rules! case {
    ($group:expr, $f:ident) => {
        case!($group, $f, [], not [])
    };
    ($group:expr, $f:ident, [$($need:literal),* $(,)?]) => {
        case!($group, $f, [$($need),*], not [])
    };
    ($group:expr, $f:ident, [$($need:literal),* $(,)?], not [$($off:literal),* $(,)?]) => {
        $crate::case::Case {
            name: stringify!($f),
            group: $group,
            needs: &[$($need),*],
            needs_off: &[$($off),*],
            run: |ctx| ::std::boxed::Box::pin($f(ctx)),
        }
    };
}
pub(crate) use case;

/// Returns `Err(format!(...))` from the enclosing case unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}
pub(crate) use ensure;
