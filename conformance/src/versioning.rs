//! The suite's versioning promise, tested: [`crate::SUITE_VERSION`] follows semver, and a
//! minor version only adds cases gated by a capability that did not exist in the release
//! it extends, so a driver green on 1.0.0 stays green until it claims a new capability.
//! `baseline/1.0.0.txt` records the cases and capabilities of 1.0.0 (never edited); a
//! major version starts a new baseline.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::{SUITE_VERSION, cases};

    const BASELINE: &str = include_str!("../baseline/1.0.0.txt");

    fn section(name: &str) -> BTreeSet<&'static str> {
        let mut on = false;
        let mut out = BTreeSet::new();
        for line in BASELINE.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if line.starts_with('[') {
                on = line == format!("[{name}]");
            } else if on {
                out.insert(line);
            }
        }
        out
    }

    #[test]
    fn the_version_extends_the_baseline() {
        let mut parts = SUITE_VERSION.split('.').map(|p| p.parse::<u32>().expect("a numeric version"));
        assert_eq!(parts.next(), Some(1), "a new major version needs a new baseline file");
        assert!(parts.next().is_some() && parts.next().is_some() && parts.next().is_none(), "x.y.z");
    }

    #[test]
    fn every_baseline_case_and_capability_is_still_there() {
        let now: BTreeSet<&str> = cases().iter().map(|c| c.name).collect();
        for name in section("cases") {
            assert!(now.contains(name), "case {name} of 1.0.0 was removed: that needs a major version");
        }
        for name in section("capabilities") {
            assert!(
                storage_core::Capabilities::NAMES.contains(&name),
                "capability {name} of 1.0.0 was removed or renamed: that needs a major version"
            );
        }
    }

    #[test]
    fn every_new_case_needs_a_new_capability() {
        let (old_cases, old_caps) = (section("cases"), section("capabilities"));
        assert!(old_cases.len() >= 200 && old_caps.len() >= 20, "the baseline file is read");
        for case in cases().iter().filter(|c| !old_cases.contains(c.name)) {
            assert!(
                case.needs().iter().any(|n| !old_caps.contains(n)),
                "case {} is new since 1.0.0 but runs on drivers green on 1.0.0: gate it by a capability added \
                 after 1.0.0 (needs {:?}; needs_off cases cannot be added in a minor version)",
                case.name,
                case.needs()
            );
        }
    }
}
