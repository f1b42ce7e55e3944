//! Turning a resolved OCI runtime spec and a rootfs into a running, isolated process.

pub mod caps;
pub mod seccomp;
