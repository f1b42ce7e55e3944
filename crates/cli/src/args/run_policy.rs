//! `run` and `create` flags the container's supervisor acts on: the restart policy and
//! the health check (flattened into [`RunArgs`](super::RunArgs)).

use anyhow::{Result, anyhow, bail};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct RunPolicyArgs {
    /// Restart policy to apply when a container exits
    /// (no, on-failure[:max-retries], always, unless-stopped)
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub(crate) restart: String,
    /// Command to run to check health
    #[arg(long, value_name = "COMMAND")]
    pub(crate) health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long, value_name = "DURATION")]
    pub(crate) health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries
    /// countdown (ms|s|m|h) (default 0s)
    #[arg(long, value_name = "DURATION")]
    pub(crate) health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long, value_name = "DURATION")]
    pub(crate) health_timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub(crate) no_healthcheck: bool,
}

impl RunPolicyArgs {
    /// Sets the options these flags describe (docker's checks and messages).
    pub(crate) fn apply(&self, opts: &mut engine::CreateOptions) -> Result<()> {
        opts.restart = engine::RestartPolicy::parse(&self.restart)?;
        opts.healthcheck = self.healthcheck()?;
        Ok(())
    }

    fn healthcheck(&self) -> Result<Option<engine::HealthConfig>> {
        let duration = |flag: &str, v: &Option<String>| -> Result<u64> {
            match v.as_deref() {
                None => Ok(0),
                Some(s) if s.starts_with('-') => bail!("--{flag} cannot be negative"),
                Some(s) => engine::health::parse_go_duration(s)
                    .map_err(|e| anyhow!("invalid argument \"{s}\" for \"--{flag}\" flag: {e}")),
            }
        };
        let interval = duration("health-interval", &self.health_interval)?;
        let timeout = duration("health-timeout", &self.health_timeout)?;
        let start_period = duration("health-start-period", &self.health_start_period)?;
        let retries = match self.health_retries {
            Some(r) if r < 0 => bail!("--health-retries cannot be negative"),
            Some(r) => u32::try_from(r).unwrap_or(u32::MAX),
            None => 0,
        };
        let cmd = self.health_cmd.as_deref().filter(|c| !c.is_empty());
        let any =
            cmd.is_some() || interval != 0 || timeout != 0 || start_period != 0 || retries != 0;
        if self.no_healthcheck {
            if any {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(engine::HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        if !any {
            return Ok(None);
        }
        Ok(Some(engine::HealthConfig {
            test: cmd.map_or_else(Vec::new, |c| vec!["CMD-SHELL".into(), c.to_owned()]),
            interval,
            timeout,
            start_period,
            retries,
        }))
    }
}
