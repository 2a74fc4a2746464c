//! Records of cases run by [`crate::conformance_tests!`], so that a tool outside the
//! test process (`cargo xtask conformance --crate PATH`) can build the same [`Report`]
//! as a direct run: with [`RECORD_ENV`] set to a file, every generated test appends one
//! JSON line (the suite version, the driver's label, its capability table and the case's
//! outcome), and [`report_from_records`] turns the file back into a report.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use storage_core::Driver;

use crate::report::{CapabilityRow, CaseReport, DriverReport, Report};
use crate::runner::{RunConfig, cases, label};

/// The environment variable naming the file the generated tests append their records
/// to. Unset (the default), nothing is recorded.
pub const RECORD_ENV: &str = "STORAGE_CONFORMANCE_RECORD";

/// One line of the record file.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    suite_version: String,
    driver: String,
    capabilities: Vec<CapabilityRow>,
    case: CaseReport,
}

/// Appends `report` to the file [`RECORD_ENV`] names, if it is set.
pub(crate) fn record(driver: &Arc<dyn Driver>, config: &RunConfig, report: &CaseReport) -> Result<(), String> {
    match std::env::var_os(RECORD_ENV) {
        Some(path) => record_to(std::path::Path::new(&path), driver, config, report),
        None => Ok(()),
    }
}

/// Appends `report` to the record file at `path`.
fn record_to(
    path: &std::path::Path,
    driver: &Arc<dyn Driver>,
    config: &RunConfig,
    report: &CaseReport,
) -> Result<(), String> {
    let record = Record {
        suite_version: crate::SUITE_VERSION.to_owned(),
        driver: label(driver, config),
        capabilities: CapabilityRow::table(&driver.info().capabilities, &config.overrides),
        case: report.clone(),
    };
    let mut line = serde_json::to_vec(&record).map_err(|e| format!("cannot encode the record: {e}"))?;
    line.push(b'\n');
    // One write per line on a file opened for appending: concurrent tests (threads or
    // processes) never interleave within a line.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&line))
        .map_err(|e| format!("cannot append to {RECORD_ENV}={}: {e}", path.display()))
}

/// One driver's records: its capability table and its cases by (suite position, name).
type Recorded = (Vec<CapabilityRow>, BTreeMap<(usize, String), CaseReport>);

/// The report of every case recorded in `text` (the contents of a record file): one
/// driver report per label, in label order, each with its cases in the suite's order (a
/// case recorded twice counts once, the last record winning). Fails on a line that is not
/// a record or when records come from different suite versions.
pub fn report_from_records(text: &str) -> Result<Report, String> {
    let order: Vec<&str> = cases().iter().map(|c| c.name).collect();
    let mut version: Option<String> = None;
    let mut drivers: BTreeMap<String, Recorded> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: Record =
            serde_json::from_str(line).map_err(|e| format!("record line {} is not a record: {e}", i + 1))?;
        match &version {
            Some(v) if *v != r.suite_version => {
                return Err(format!("records come from suite versions {v} and {}", r.suite_version));
            }
            Some(_) => {}
            None => version = Some(r.suite_version.clone()),
        }
        let entry = drivers.entry(r.driver).or_default();
        entry.0 = r.capabilities;
        let rank = order.iter().position(|n| *n == r.case.name).unwrap_or(order.len());
        entry.1.insert((rank, r.case.name.clone()), r.case);
    }
    let drivers = drivers
        .into_iter()
        .map(|(name, (caps, cases))| DriverReport::new(name, cases.into_values().collect()).with_capabilities(caps))
        .collect();
    Ok(Report { suite_version: version.unwrap_or_else(|| crate::SUITE_VERSION.to_owned()), drivers })
}

#[cfg(test)]
mod tests {
    use storage_core::MemoryDriver;

    use super::*;
    use crate::Status;

    #[tokio::test]
    async fn records_round_trip_into_a_report_in_suite_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
        let config = RunConfig { label: Some("mem".into()), ..RunConfig::default() };
        let all = cases();
        // Recorded out of order, one of them twice.
        for name in [all[3].name, all[0].name, all[3].name] {
            let report = crate::run_case(driver.clone(), name, &config).await;
            record_to(&path, &driver, &config, &report).unwrap();
        }
        let report = report_from_records(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(report.suite_version, crate::SUITE_VERSION);
        assert_eq!(report.drivers.len(), 1);
        let d = &report.drivers[0];
        assert_eq!(d.driver, "mem");
        let names: Vec<&str> = d.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [all[0].name, all[3].name]);
        assert_eq!(d.passed + d.skipped, 2, "{}", report.to_text());
        assert!(d.capabilities.iter().any(|c| c.name == "ranges" && c.claimed));
        assert!(report.to_text().contains("capabilities claimed: "), "{}", report.to_text());

        assert!(report_from_records("not json\n").is_err());
        let mixed = format!(
            "{}\n{}\n",
            serde_json::to_string(&Record {
                suite_version: "1.0.0".into(),
                driver: "x".into(),
                capabilities: vec![],
                case: CaseReport::new("a", "g", Status::Passed, ""),
            })
            .unwrap(),
            serde_json::to_string(&Record {
                suite_version: "1.1.0".into(),
                driver: "x".into(),
                capabilities: vec![],
                case: CaseReport::new("b", "g", Status::Passed, ""),
            })
            .unwrap()
        );
        assert!(report_from_records(&mixed).unwrap_err().contains("suite versions"));
    }
}
