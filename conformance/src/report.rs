//! Reports: per case, per driver, and for a whole run; as text, JSON and JUnit XML.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use storage_core::Capabilities;

use crate::SUITE_VERSION;
use crate::runner::Override;

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every check held.
    Passed,
    /// A check failed; the detail says which and how.
    Failed,
    /// The case did not run; the detail says why (a capability is off...).
    Skipped,
}

impl Status {
    /// `passed`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// The case's group.
    pub group: String,
    /// Passed, failed or skipped.
    pub status: Status,
    /// For a failure, what was expected and what happened; for a skip, why. May be empty
    /// for a pass.
    pub detail: String,
}

impl CaseReport {
    /// A report for case `name` in `group`.
    pub fn new(name: impl Into<String>, group: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        CaseReport { name: name.into(), group: group.into(), status, detail: detail.into() }
    }
}

/// One row of a driver's capability table: what it claims, and what a server override
/// turned off for this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityRow {
    /// The capability (a field name of [`storage_core::Capabilities`]).
    pub name: String,
    /// Whether the driver claims it.
    pub claimed: bool,
    /// Set when a server override turned a claimed capability off: the override's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden: Option<String>,
}

impl CapabilityRow {
    /// The table of every capability, in declaration order, for `declared` with the
    /// given overrides applied.
    pub fn table(declared: &Capabilities, overrides: &[Override]) -> Vec<CapabilityRow> {
        Capabilities::NAMES
            .iter()
            .map(|name| {
                let claimed = declared.get(name).unwrap_or(false);
                let overridden = overrides.iter().find(|o| o.capability == *name && claimed).map(|o| o.reason.clone());
                CapabilityRow { name: (*name).to_owned(), claimed, overridden }
            })
            .collect()
    }
}

/// The outcomes of a run against one driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverReport {
    /// The driver's name or the run's label.
    pub driver: String,
    /// Cases passed.
    pub passed: usize,
    /// Cases failed.
    pub failed: usize,
    /// Cases skipped.
    pub skipped: usize,
    /// The driver's capability table (empty when unknown). Added in suite 1.1.0.
    pub capabilities: Vec<CapabilityRow>,
    /// Every case, in the order they ran.
    pub cases: Vec<CaseReport>,
}

impl DriverReport {
    /// A report for `driver` with the counts computed from `cases`.
    pub fn new(driver: impl Into<String>, cases: Vec<CaseReport>) -> Self {
        let count = |s: Status| cases.iter().filter(|c| c.status == s).count();
        DriverReport {
            driver: driver.into(),
            passed: count(Status::Passed),
            failed: count(Status::Failed),
            skipped: count(Status::Skipped),
            capabilities: Vec::new(),
            cases,
        }
    }

    /// The same report with its capability table.
    pub fn with_capabilities(mut self, capabilities: Vec<CapabilityRow>) -> Self {
        self.capabilities = capabilities;
        self
    }
}

/// The outcome of a run over one or more drivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// [`SUITE_VERSION`].
    pub suite_version: String,
    /// One report per driver.
    pub drivers: Vec<DriverReport>,
}

impl Report {
    /// A report of the current suite version over `drivers`.
    pub fn new(drivers: Vec<DriverReport>) -> Self {
        Report { suite_version: SUITE_VERSION.to_owned(), drivers }
    }

    /// Failed cases over every driver.
    pub fn failed(&self) -> usize {
        self.drivers.iter().map(|d| d.failed).sum()
    }

    /// One line per case and a summary per driver.
    pub fn to_text(&self) -> String {
        let mut out = format!("storage conformance suite {}\n", self.suite_version);
        for d in &self.drivers {
            let _ = writeln!(out, "\n== {} ==", d.driver);
            if !d.capabilities.is_empty() {
                let names = |f: &dyn Fn(&CapabilityRow) -> bool| {
                    let v: Vec<&str> = d.capabilities.iter().filter(|c| f(c)).map(|c| c.name.as_str()).collect();
                    if v.is_empty() { "-".to_owned() } else { v.join(", ") }
                };
                let _ = writeln!(out, "capabilities claimed: {}", names(&|c| c.claimed && c.overridden.is_none()));
                let _ = writeln!(out, "capabilities not claimed: {}", names(&|c| !c.claimed));
                for c in d.capabilities.iter().filter(|c| c.overridden.is_some()) {
                    let _ = writeln!(
                        out,
                        "capability {} turned off by a server override: {}",
                        c.name,
                        c.overridden.as_deref().unwrap_or_default()
                    );
                }
            }
            for c in &d.cases {
                let tag = match c.status {
                    Status::Passed => "PASS",
                    Status::Failed => "FAIL",
                    Status::Skipped => "SKIP",
                };
                let _ = write!(out, "{tag}  {}/{}", c.group, c.name);
                if !c.detail.is_empty() {
                    let _ = write!(out, ": {}", c.detail.replace('\n', "\n      "));
                }
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "{}: {} passed, {} failed, {} skipped ({} cases)",
                d.driver,
                d.passed,
                d.failed,
                d.skipped,
                d.cases.len()
            );
        }
        out
    }

    /// The report as JSON:
    /// `{"suite_version", "drivers": [{"driver", "passed", "failed", "skipped", "cases":
    /// [{"name", "group", "status", "detail"}]}]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {}}}", serde_json::Value::String(e.to_string())))
    }

    /// The report as JUnit XML: one `<testsuite>` per driver, one `<testcase>` per case.
    pub fn to_junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let total: usize = self.drivers.iter().map(|d| d.cases.len()).sum();
        let skipped: usize = self.drivers.iter().map(|d| d.skipped).sum();
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" tests=\"{total}\" failures=\"{}\" errors=\"0\" skipped=\"{skipped}\">",
            xml_escape(&format!("storage-conformance {}", self.suite_version)),
            self.failed()
        );
        for d in &self.drivers {
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
                xml_escape(&d.driver),
                d.cases.len(),
                d.failed,
                d.skipped
            );
            if !d.capabilities.is_empty() {
                out.push_str("    <properties>\n");
                for c in &d.capabilities {
                    let value = match (&c.overridden, c.claimed) {
                        (Some(reason), _) => format!("off (server override: {reason})"),
                        (None, true) => "on".to_owned(),
                        (None, false) => "off".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "      <property name=\"capability.{}\" value=\"{}\"/>",
                        xml_escape(&c.name),
                        xml_escape(&value)
                    );
                }
                out.push_str("    </properties>\n");
            }
            for c in &d.cases {
                let head =
                    format!("    <testcase classname=\"{}\" name=\"{}\"", xml_escape(&c.group), xml_escape(&c.name));
                match c.status {
                    Status::Passed => {
                        let _ = writeln!(out, "{head}/>");
                    }
                    Status::Failed => {
                        let first = c.detail.lines().next().unwrap_or("");
                        let _ = writeln!(
                            out,
                            "{head}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                            xml_escape(first),
                            xml_escape(&c.detail)
                        );
                    }
                    Status::Skipped => {
                        let _ = writeln!(
                            out,
                            "{head}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                            xml_escape(&c.detail)
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Escapes text for XML attribute values and element content. Characters XML 1.0 cannot
/// carry at all (most control characters) are written as `\u{..}`.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report::new(vec![DriverReport::new(
            "mem <\"&'>",
            vec![
                CaseReport::new("a", "g", Status::Passed, ""),
                CaseReport::new("b", "g", Status::Failed, "expected <1> & got \"2\"\nsecond line \u{1}"),
                CaseReport::new("c", "h", Status::Skipped, "requires capability `ranges`"),
            ],
        )])
    }

    #[test]
    fn counts() {
        let r = sample();
        assert_eq!((r.drivers[0].passed, r.drivers[0].failed, r.drivers[0].skipped), (1, 1, 1));
        assert_eq!(r.failed(), 1);
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(v["suite_version"], SUITE_VERSION);
        let d = &v["drivers"][0];
        assert_eq!(d["driver"], "mem <\"&'>");
        assert_eq!(d["passed"], 1);
        assert_eq!(d["failed"], 1);
        assert_eq!(d["skipped"], 1);
        assert_eq!(d["cases"][1]["status"], "failed");
        assert_eq!(d["cases"][2]["status"], "skipped");
        assert_eq!(d["cases"][0]["group"], "g");
        let sorted = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(sorted(&v), ["drivers", "suite_version"]);
        assert_eq!(sorted(d), ["capabilities", "cases", "driver", "failed", "passed", "skipped"]);
        assert_eq!(sorted(&d["cases"][0]), ["detail", "group", "name", "status"]);
    }

    #[test]
    fn junit_is_escaped() {
        let x = sample().to_junit();
        assert!(x.contains("<testsuite name=\"mem &lt;&quot;&amp;&apos;&gt;\" tests=\"3\" failures=\"1\""), "{x}");
        assert!(x.contains("<testcase classname=\"g\" name=\"a\"/>"), "{x}");
        assert!(x.contains("<failure message=\"expected &lt;1&gt; &amp; got &quot;2&quot;\">"), "{x}");
        assert!(x.contains("second line \\u{1}</failure>"), "{x}");
        assert!(x.contains("<skipped message=\"requires capability `ranges`\"/>"), "{x}");
        assert!(!x.contains('\u{1}'));
        assert_eq!(x.matches("<testcase").count(), 3);
    }

    #[test]
    fn text_lines() {
        let t = sample().to_text();
        assert!(t.contains("PASS  g/a\n"), "{t}");
        assert!(t.contains("FAIL  g/b: expected <1>"), "{t}");
        assert!(t.contains("SKIP  h/c: requires capability `ranges`"), "{t}");
        assert!(t.contains("1 passed, 1 failed, 1 skipped (3 cases)"), "{t}");
    }
}
