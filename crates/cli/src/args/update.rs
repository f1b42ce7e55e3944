//! `update`: new resource limits and restart policy for containers.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long, value_name = "WEIGHT")]
    pub(crate) blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "INT")]
    pub(crate) cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) cpu_quota: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    pub(crate) cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "INT")]
    pub(crate) cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub(crate) cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub(crate) cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub(crate) memory: Option<String>,
    /// Memory soft limit
    #[arg(long, value_name = "BYTES")]
    pub(crate) memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub(crate) memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "POLICY")]
    pub(crate) restart: Option<String>,
    /// Containers to update
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}
