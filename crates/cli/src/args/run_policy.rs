//! `run` and `create` flags the container's supervisor acts on: the restart policy
//! (flattened into [`RunArgs`](super::RunArgs)).

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct RunPolicyArgs {
    /// Restart policy to apply when a container exits
    /// (no, on-failure[:max-retries], always, unless-stopped)
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub(crate) restart: String,
}

impl RunPolicyArgs {
    /// Sets the options these flags describe.
    pub(crate) fn apply(&self, opts: &mut engine::CreateOptions) -> Result<()> {
        opts.restart = engine::RestartPolicy::parse(&self.restart)?;
        Ok(())
    }
}
