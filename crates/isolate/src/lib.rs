//! Turning a resolved OCI runtime spec and a rootfs into a running, isolated process.
