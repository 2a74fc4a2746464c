//! Running cases: gating by capabilities, per-case containers, timeouts, panics, cleanup.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::stream::{StreamExt, TryStreamExt};
use storage_core::{Capabilities, Driver, DriverExt, ErrorKind, ListOptions};

use crate::case::Case;
use crate::context::{Ctx, fresh_container_name};
use crate::report::{CapabilityRow, CaseReport, DriverReport, Status};

/// How a suite run is configured.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The name to report instead of `driver.info().name` (e.g. `"s3 (moto)"`).
    pub label: Option<String>,
    /// Server-specific capability overrides (each turns one capability off).
    pub overrides: Vec<Override>,
    /// Run only these cases (by name); `None` runs them all. [`run_case`] skips a case
    /// left out of it.
    pub only: Option<Vec<String>>,
    /// A hang guard per case (setup and body). Not a performance assertion.
    pub case_timeout: Duration,
    /// Use this existing container instead of creating one per case (for drivers
    /// without `manage_containers`). Each case still works under its own key prefix and
    /// deletes what it wrote.
    pub container: Option<String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            label: None,
            overrides: Vec::new(),
            only: None,
            case_timeout: Duration::from_secs(300),
            container: None,
        }
    }
}

/// Turns a [`storage_core::Capabilities`] field off for one server, with the reason;
/// cases needing it are skipped with the detail `server override: <reason>`.
#[derive(Clone, Debug)]
pub struct Override {
    /// The field name (`conditional_get_etag`, `copy_if_absent`...).
    pub capability: String,
    /// Why the server cannot be held to it.
    pub reason: String,
}

impl Override {
    /// An override turning `capability` off because of `reason`.
    pub fn new(capability: impl Into<String>, reason: impl Into<String>) -> Self {
        Override { capability: capability.into(), reason: reason.into() }
    }
}

/// Every case, in a stable order, with unique names.
pub fn cases() -> Vec<Case> {
    crate::cases::all()
}

/// Runs the suite (or `config.only`) against `driver`, one case after another.
pub async fn run(driver: Arc<dyn Driver>, config: &RunConfig) -> DriverReport {
    let all = cases();
    let mut reports = Vec::new();
    match &config.only {
        None => {
            for case in &all {
                reports.push(execute(case, driver.clone(), config).await);
            }
        }
        Some(only) => {
            for name in only {
                match all.iter().find(|c| c.name == name.as_str()) {
                    Some(case) => reports.push(execute(case, driver.clone(), config).await),
                    None => reports.push(unknown_case(name)),
                }
            }
        }
    }
    DriverReport::new(label(&driver, config), reports)
        .with_capabilities(CapabilityRow::table(&driver.info().capabilities, &config.overrides))
}

/// Runs one case by name. A case left out of `config.only` (when set) is skipped.
pub async fn run_case(driver: Arc<dyn Driver>, name: &str, config: &RunConfig) -> CaseReport {
    match cases().iter().find(|c| c.name == name) {
        Some(case) if config.only.as_ref().is_some_and(|only| !only.iter().any(|n| n == name)) => {
            CaseReport::new(case.name, case.group, Status::Skipped, "not selected by RunConfig.only")
        }
        Some(case) => execute(case, driver, config).await,
        None => unknown_case(name),
    }
}

pub(crate) fn label(driver: &Arc<dyn Driver>, config: &RunConfig) -> String {
    config.label.clone().unwrap_or_else(|| driver.info().name.clone())
}

fn unknown_case(name: &str) -> CaseReport {
    CaseReport::new(name, "unknown", Status::Failed, format!("there is no conformance case named {name:?}"))
}

/// The capabilities after overrides, or an error naming an unknown capability.
fn effective(declared: Capabilities, overrides: &[Override]) -> Result<Capabilities, String> {
    let mut caps = declared;
    for o in overrides {
        if !caps.set(&o.capability, false) {
            return Err(format!(
                "the override {:?} names no capability; use a field name of storage_core::Capabilities",
                o.capability
            ));
        }
    }
    Ok(caps)
}

/// Why `case` cannot run, if it cannot.
fn skip_reason(
    case: &Case,
    driver: &str,
    declared: &Capabilities,
    caps: &Capabilities,
    config: &RunConfig,
) -> Option<Result<String, String>> {
    for need in case.needs {
        match caps.get(need) {
            None => return Some(Err(format!("the case requires an unknown capability {need:?}"))),
            Some(true) => {}
            Some(false) => {
                if let Some(o) = config.overrides.iter().find(|o| o.capability == *need) {
                    return Some(Ok(format!("server override: {}", o.reason)));
                }
                return Some(Ok(format!("requires capability `{need}`, which the {driver} driver does not have")));
            }
        }
    }
    for off in case.needs_off {
        match declared.get(off) {
            None => return Some(Err(format!("the case requires an unknown capability {off:?}"))),
            Some(false) => {}
            Some(true) => {
                return Some(Ok(format!(
                    "checks the NotSupported answer of drivers without `{off}`; the {driver} driver has it"
                )));
            }
        }
    }
    None
}

async fn execute(case: &Case, driver: Arc<dyn Driver>, config: &RunConfig) -> CaseReport {
    let report = |status, detail: String| CaseReport::new(case.name, case.group, status, detail);
    let info = driver.info().clone();
    let caps = match effective(info.capabilities, &config.overrides) {
        Ok(c) => c,
        Err(e) => return report(Status::Failed, e),
    };
    match skip_reason(case, &info.name, &info.capabilities, &caps, config) {
        Some(Ok(reason)) => return report(Status::Skipped, reason),
        Some(Err(e)) => return report(Status::Failed, e),
        None => {}
    }

    // Setup: the case's container.
    let (container, owned) = match &config.container {
        Some(c) => (c.clone(), false),
        None if caps.manage_containers => (fresh_container_name(), true),
        None => {
            return report(
                Status::Failed,
                format!(
                    "the {} driver cannot create containers (manage_containers is off) and RunConfig.container \
                     is not set: pass an existing container to run the suite",
                    info.name
                ),
            );
        }
    };
    let ctx = Ctx::new(driver.clone(), container.clone(), caps);
    let body = {
        let ctx = ctx.clone();
        let run = case.run;
        async move {
            if owned {
                driver
                    .create_container(&container)
                    .await
                    .map_err(|e| format!("setup: creating the container {container:?} failed: {e}"))?;
            }
            run(ctx).await
        }
    };
    let outcome = tokio::time::timeout(config.case_timeout, AssertUnwindSafe(body).catch_unwind()).await;
    let (status, mut detail) = match outcome {
        Ok(Ok(Ok(()))) => (Status::Passed, String::new()),
        Ok(Ok(Err(detail))) => (Status::Failed, detail),
        Ok(Err(panic)) => (Status::Failed, format!("the case panicked: {}", panic_message(panic.as_ref()))),
        Err(_) => (
            Status::Failed,
            format!("the case did not finish within {:?} (hang guard, not a performance limit)", config.case_timeout),
        ),
    };

    // Cleanup, best effort: failures are noted in the detail, never change the status.
    let cleanup = AssertUnwindSafe(cleanup(&ctx, owned)).catch_unwind();
    let note = match tokio::time::timeout(config.case_timeout, cleanup).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(e),
        Ok(Err(panic)) => Some(format!("cleanup panicked: {}", panic_message(panic.as_ref()))),
        Err(_) => Some("cleanup timed out".to_owned()),
    };
    if let Some(note) = note {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(&format!("(cleanup: {note})"));
    }
    report(status, detail)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// Removes what a case left: the extra containers it created, unfinished uploads, and
/// either the whole case container (when the runner created it) or the case prefix.
async fn cleanup(ctx: &Ctx, owned: bool) -> Result<(), String> {
    let driver = ctx.d();
    let (extra, uploads) = ctx.take_created();
    let mut problems = Vec::new();
    for upload in &uploads {
        // Completed or aborted uploads answer with an error here; that is fine.
        let _ = driver.abort_multipart(upload).await;
    }
    for name in &extra {
        if let Err(e) = purge_container(ctx, name).await {
            problems.push(e);
        }
    }
    if owned {
        if let Err(e) = purge_container(ctx, &ctx.container).await {
            problems.push(e);
        }
    } else {
        if ctx.caps.list_multipart {
            abort_uploads(driver, &ctx.container, Some(&ctx.prefix)).await;
        }
        if let Err(e) = driver.delete_prefix(&ctx.container, &ctx.prefix).await {
            problems.push(format!("deleting the objects under {:?} failed: {e}", ctx.prefix));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

async fn abort_uploads(driver: &dyn Driver, container: &str, prefix: Option<&str>) {
    if let Ok(uploads) = driver.list_multipart_uploads(container, prefix).await {
        for u in &uploads {
            let _ = driver.abort_multipart(u).await;
        }
    }
}

/// Deletes everything in `container`, then the container itself.
async fn purge_container(ctx: &Ctx, container: &str) -> Result<(), String> {
    let driver = ctx.d();
    for attempt in 0..3 {
        if ctx.caps.list_multipart {
            abort_uploads(driver, container, None).await;
        }
        let keys: Vec<String> = match driver
            .list_objects(container, ListOptions::default())
            .try_filter_map(|e| async move { Ok(e.as_object().map(|o| o.name.clone())) })
            .try_collect()
            .await
        {
            Ok(keys) => keys,
            Err(e) if e.kind() == ErrorKind::ContainerDoesNotExist => return Ok(()),
            Err(e) => return Err(format!("listing {container:?} to empty it failed: {e}")),
        };
        if !keys.is_empty() {
            let outcomes = driver
                .delete_objects(container, &keys)
                .await
                .map_err(|e| format!("emptying {container:?} failed: {e}"))?;
            if let Some(bad) = outcomes.iter().find(|o| o.result.is_err()) {
                let _ = futures::stream::iter(keys.iter())
                    .for_each_concurrent(8, |k| async move {
                        let _ = driver.delete_object(container, k).await;
                    })
                    .await;
                if attempt == 2 {
                    return Err(format!("deleting {:?} in {container:?} failed", bad.key));
                }
            }
        }
        match driver.delete_container(container).await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::ContainerDoesNotExist => return Ok(()),
            Err(e) if e.kind() == ErrorKind::ContainerIsNotEmpty && attempt < 2 => continue,
            Err(e) => return Err(format!("deleting the container {container:?} failed: {e}")),
        }
    }
    Ok(())
}
