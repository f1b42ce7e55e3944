//! v1 `pids`: the process limit and count.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V1Controller;
use crate::error::Result;
use crate::{Controller, PidsStats, Warning};

pub(crate) struct Pids;

impl V1Controller for Pids {
    const CONTROLLER: Controller = Controller::Pids;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        crate::pids::apply(resources, dir)?;
        Ok(Vec::new())
    }
}

pub(crate) fn stats(dir: &Path) -> Result<PidsStats> {
    crate::pids::stats(dir)
}
