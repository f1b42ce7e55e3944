//! `exec`: joining the namespaces and cgroup of a running container.

use std::convert::Infallible;

use super::Abort;
use crate::channel::{ExecConfig, InitChannel};
use crate::error::{InitFailure, Stage};

pub(super) fn join(_ch: &InitChannel, _cfg: &ExecConfig) -> Result<Infallible, Abort> {
    Err(Abort::Setup(InitFailure::new(
        Stage::Join,
        "exec is not implemented yet",
    )))
}
