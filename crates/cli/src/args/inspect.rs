//! `inspect` and `image inspect`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct InspectAnyArgs {
    /// Format the output using a Go-template-like path, e.g. '{{.State.Pid}}'
    #[arg(short, long)]
    pub(crate) format: Option<String>,
    /// Return JSON for the specified type only (container, image)
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) kind: Option<String>,
    /// Display total file sizes (accepted for compatibility)
    #[arg(short, long)]
    pub(crate) size: bool,
    /// Containers or images
    #[arg(required = true, value_name = "NAME|ID")]
    pub(crate) names: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format the output using a Go-template-like path, e.g. '{{.Id}}'
    #[arg(short, long)]
    pub(crate) format: Option<String>,
    /// Images to inspect
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) names: Vec<String>,
}
