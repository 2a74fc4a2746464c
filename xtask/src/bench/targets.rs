//! The targets the report checks (PASS / MISS, reported, never enforced): the limits, and
//! one checked target.

use super::report_md::fmt_opt;

/// Targets (reported, never enforced).
pub(crate) const TARGET_INSTR_RATIO: f64 = 0.5;
pub(crate) const TARGET_CPU_RATIO: f64 = 0.75;
pub(crate) const TARGET_LIST_US_PER_KEY: f64 = 0.8;
/// Large transfers: ours' MiB/s at least the best peer's, and at least 0.95x the floor's.
pub(crate) const TARGET_LARGE_PEER: f64 = 1.0;
pub(crate) const TARGET_LARGE_FLOOR: f64 = 0.95;
/// Local filesystem: ours' ops/s at least 1.15x object_store's (small operations) and 3x
/// (LIST, keys per second).
pub(crate) const TARGET_LOCAL_SMALL: f64 = 1.15;
pub(crate) const TARGET_LOCAL_LIST: f64 = 3.0;
/// The CLI's `cp -r` against `rclone copy`: at least its throughput (files/s and MiB/s of
/// one tree are the same ratio), at most its client CPU seconds.
pub(crate) const TARGET_CLI_TPUT: f64 = 1.0;
pub(crate) const TARGET_CLI_CPU: f64 = 1.0;

/// One target: a measured value against its limit.
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) value: Option<f64>,
    pub(crate) limit: f64,
    pub(crate) unit: &'static str,
    /// The value must be at least the limit (else at most).
    pub(crate) at_least: bool,
}

impl Target {
    /// A target the value must not exceed.
    pub(crate) fn at_most(name: String, value: Option<f64>, limit: f64, unit: &'static str) -> Target {
        Target { name, value, limit, unit, at_least: false }
    }

    /// A target the value must reach.
    pub(crate) fn at_least(name: String, value: Option<f64>, limit: f64, unit: &'static str) -> Target {
        Target { name, value, limit, unit, at_least: true }
    }

    /// PASS, MISS, or n/a when nothing was measured.
    pub(crate) fn verdict(&self) -> &'static str {
        match self.value {
            Some(v) if (self.at_least && v >= self.limit) || (!self.at_least && v <= self.limit) => "PASS",
            Some(_) => "MISS",
            None => "n/a",
        }
    }

    /// The target as a Markdown list item.
    pub(crate) fn markdown(&self) -> String {
        let value = fmt_opt(self.value, |v| format!("{v:.2}{}", self.unit));
        let cmp = if self.at_least { "≥" } else { "≤" };
        format!("- {}: {value} (target {cmp} {}{}) **{}**", self.name, self.limit, self.unit, self.verdict())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(Target::at_least("a".into(), Some(1.2), 1.15, "x").verdict(), "PASS");
        assert_eq!(Target::at_least("a".into(), Some(1.1), 1.15, "x").verdict(), "MISS");
        assert_eq!(Target::at_most("a".into(), Some(0.9), 0.8, " µs").verdict(), "MISS");
        assert_eq!(Target::at_most("a".into(), None, 0.8, " µs").verdict(), "n/a");
        assert!(Target::at_least("a".into(), Some(2.0), 3.0, "x").markdown().contains("target ≥ 3x"));
    }
}
