//! v1 `devices`: the device access allowlist (`devices.allow` / `devices.deny`).

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::V1Controller;
use crate::error::{Error, Result};
use crate::fs::write_file;
use crate::{Controller, Warning};

pub(crate) struct Devices;

impl V1Controller for Devices {
    const CONTROLLER: Controller = Controller::Devices;

    /// Applies the rules in order, as the OCI spec says: usually "deny all" first, then
    /// the allowed devices.
    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        for rule in resources.devices().iter().flatten() {
            if let Some(line) = rule_line(rule)? {
                let file = if rule.allow() {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write_file(dir, file, &line)?;
            }
        }
        Ok(Vec::new())
    }
}

/// The kernel's `TYPE MAJOR:MINOR ACCESS` line for a rule; `None` for FIFO rules, which
/// the device controller does not know.
fn rule_line(rule: &LinuxDeviceCgroup) -> Result<Option<String>> {
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => return Ok(None),
    };
    let number = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(Error::InvalidResource {
            resource: "device access",
            value: access.to_string(),
            reason: "must be made of r, w and m",
        });
    }
    Ok(Some(format!(
        "{typ} {}:{} {access}",
        number(rule.major()),
        number(rule.minor())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::read_file;
    use crate::testutil::set_fixture;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxResourcesBuilder};

    #[test]
    fn rules_become_kernel_lines() {
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(rule_line(&deny_all).unwrap().as_deref(), Some("a *:* rwm"));
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1i64)
            .minor(3i64)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(rule_line(&null).unwrap().as_deref(), Some("c 1:3 rw"));
        let fifo = LinuxDeviceCgroupBuilder::default()
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap();
        assert_eq!(rule_line(&fifo).unwrap(), None);
        let bad = LinuxDeviceCgroupBuilder::default()
            .access("rwx")
            .build()
            .unwrap();
        assert_eq!(
            rule_line(&bad).unwrap_err().kind(),
            crate::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn rules_go_to_allow_and_deny() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, "devices.allow", "");
        set_fixture(dir, "devices.deny", "");
        let r = LinuxResourcesBuilder::default()
            .devices(vec![
                LinuxDeviceCgroupBuilder::default()
                    .allow(false)
                    .access("rwm")
                    .build()
                    .unwrap(),
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .typ(LinuxDeviceType::C)
                    .major(1i64)
                    .minor(5i64)
                    .access("rwm")
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        Devices::apply(&r, dir).unwrap();
        assert_eq!(read_file(dir, "devices.deny").unwrap(), "a *:* rwm");
        assert_eq!(read_file(dir, "devices.allow").unwrap(), "c 1:5 rwm");
    }
}
