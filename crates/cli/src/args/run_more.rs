//! More `run`/`create` flags of docker's (flattened into [`RunArgs`](super::RunArgs)):
//! `--volumes-from`, `--device-cgroup-rule`, block I/O limits, `--sig-proxy`, the modes
//! that only have docker's default here (`--userns`, `--runtime`, `--isolation`,
//! `--volume-driver`, `--disable-content-trust`), and the flags mydocker refuses with
//! the reason (hidden from the help).

use anyhow::{Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct RunMoreArgs {
    /// Mount volumes from the specified container(s) (NAME[:ro|rw])
    #[arg(long, value_name = "CONTAINER")]
    pub(crate) volumes_from: Vec<String>,
    /// Add a rule to the cgroup allowed devices list ('c 1:3 rwm', '*' for any number)
    #[arg(long, value_name = "RULE")]
    pub(crate) device_cgroup_rule: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long, value_name = "WEIGHT")]
    pub(crate) blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight) (DEVICE:WEIGHT)
    #[arg(long, value_name = "DEVICE:WEIGHT")]
    pub(crate) blkio_weight_device: Vec<String>,
    /// Limit read rate (bytes per second) from a device (DEVICE:RATE)
    #[arg(long, value_name = "DEVICE:RATE")]
    pub(crate) device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device (DEVICE:RATE)
    #[arg(long, value_name = "DEVICE:RATE")]
    pub(crate) device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device (DEVICE:RATE)
    #[arg(long, value_name = "DEVICE:RATE")]
    pub(crate) device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device (DEVICE:RATE)
    #[arg(long, value_name = "DEVICE:RATE")]
    pub(crate) device_write_iops: Vec<String>,
    /// Proxy received signals to the process (always, for a foreground run)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub(crate) sig_proxy: bool,
    /// User namespace to use (host: mydocker does not remap users)
    #[arg(long, value_name = "MODE")]
    pub(crate) userns: Option<String>,
    /// Runtime to use for this container (runc: mydocker's own)
    #[arg(long, value_name = "NAME")]
    pub(crate) runtime: Option<String>,
    /// Container isolation technology (default)
    #[arg(long, value_name = "MODE")]
    pub(crate) isolation: Option<String>,
    /// Optional volume driver for the container (local)
    #[arg(long, value_name = "DRIVER")]
    pub(crate) volume_driver: Option<String>,
    /// Skip image verification (no effect: content trust is not implemented)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub(crate) disable_content_trust: bool,
    #[command(flatten)]
    pub(crate) refused: RefusedArgs,
}

// docker flags mydocker does not support: accepted by the parser so that the error
// says why, instead of "unexpected argument". (No doc comment: with deferred
// subcommands, it would replace `run`'s `about`.)
#[derive(Debug, Args)]
pub(crate) struct RefusedArgs {
    #[arg(long, hide = true)]
    ip6: Option<String>,
    #[arg(long, hide = true)]
    link_local_ip: Vec<String>,
    #[arg(long, hide = true)]
    mac_address: Option<String>,
    #[arg(long, hide = true)]
    link: Vec<String>,
    #[arg(long, hide = true)]
    gpus: Option<String>,
    #[arg(long, hide = true)]
    storage_opt: Vec<String>,
    #[arg(long, hide = true)]
    kernel_memory: Option<String>,
    #[arg(long, hide = true)]
    cpu_rt_period: Option<String>,
    #[arg(long, hide = true)]
    cpu_rt_runtime: Option<String>,
    #[arg(short = 'a', long, hide = true)]
    attach: Vec<String>,
    #[arg(long, hide = true)]
    detach_keys: Option<String>,
}

impl RefusedArgs {
    /// The first refused flag given, with why.
    fn check(&self) -> Result<()> {
        let why = if self.ip6.is_some() || !self.link_local_ip.is_empty() {
            "--ip6 and --link-local-ip: mydocker's networks are IPv4 only"
        } else if self.mac_address.is_some() {
            "--mac-address: mydocker derives a container's MAC address from its IP address"
        } else if !self.link.is_empty() {
            "--link: legacy links are not supported; containers on one user-defined network (mydocker network create) reach each other by name"
        } else if self.gpus.is_some() {
            "--gpus: GPU devices are not supported (--device passes a device node)"
        } else if !self.storage_opt.is_empty() {
            "--storage-opt: mydocker's storage drivers have no per-container options"
        } else if self.kernel_memory.is_some() {
            "--kernel-memory: kernel memory limits are deprecated by the kernel and not supported"
        } else if self.cpu_rt_period.is_some() || self.cpu_rt_runtime.is_some() {
            "--cpu-rt-period and --cpu-rt-runtime: real-time CPU groups are not supported"
        } else if !self.attach.is_empty() {
            "-a/--attach: a foreground run attaches all standard streams (use -d and logs or attach)"
        } else if self.detach_keys.is_some() {
            "--detach-keys on run: detach from a foreground run is not supported (run -dit, then attach --detach-keys)"
        } else {
            return Ok(());
        };
        bail!("unsupported option {why}")
    }
}

impl RunMoreArgs {
    /// Sets the options these flags describe.
    pub(crate) fn apply(&self, opts: &mut engine::CreateOptions) -> Result<()> {
        self.refused.check()?;
        if !self.sig_proxy {
            bail!(
                "unsupported option --sig-proxy=false: a foreground run owns its container and passes signals on (run -d, then attach --sig-proxy=false)"
            );
        }
        match self.userns.as_deref() {
            None | Some("" | "host") => {}
            Some(m) => bail!(
                "invalid user namespace mode: {m} (mydocker does not remap users; only 'host' is valid)"
            ),
        }
        match self.runtime.as_deref() {
            None | Some("runc" | "mydocker") => {}
            Some(r) => bail!("unknown or invalid runtime name: {r}"),
        }
        match self.isolation.as_deref() {
            None | Some("" | "default") => {}
            Some(i) => bail!("invalid isolation: {i}: only 'default' is supported on Linux"),
        }
        match self.volume_driver.as_deref() {
            None | Some("" | "local") => {}
            Some(d) => bail!("volume driver {d} is not supported: only 'local'"),
        }
        opts.volumes_from = self.volumes_from.clone();
        for r in &self.device_cgroup_rule {
            engine::spec::device_cgroup_rule(r)?;
        }
        opts.device_cgroup_rule = self.device_cgroup_rule.clone();
        opts.blkio_weight = self.blkio_weight.filter(|w| *w != 0);
        opts.blkio_weight_device = self.blkio_weight_device.clone();
        opts.device_read_bps = self.device_read_bps.clone();
        opts.device_write_bps = self.device_write_bps.clone();
        opts.device_read_iops = self.device_read_iops.clone();
        opts.device_write_iops = self.device_write_iops.clone();
        Ok(())
    }
}
