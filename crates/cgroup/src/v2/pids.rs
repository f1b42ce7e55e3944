//! v2 `pids`: the same files as in v1.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V2Controller;
use crate::error::Result;
use crate::{Controller, Warning};

pub(crate) struct Pids;

impl V2Controller for Pids {
    const CONTROLLER: Controller = Controller::Pids;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        crate::pids::apply(resources, dir)?;
        Ok(Vec::new())
    }
}
