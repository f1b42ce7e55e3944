//! The hooks the runtime runs itself (the init runs `createContainer` and
//! `startContainer`): `prestart` and `createRuntime` at create (a failure fails it),
//! `poststart` after start and `poststop` after delete (a failure is only a warning, as
//! the spec requires).

use oci_spec::runtime::{Hook, Hooks, Spec, State};

use crate::error::{Error, Result};

fn of(spec: &Spec, kind: impl Fn(&Hooks) -> &Option<Vec<Hook>>) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .and_then(|h| kind(h).as_deref())
        .unwrap_or_default()
}

/// The `prestart` hooks (deprecated, run like `createRuntime`).
pub(crate) fn prestart(spec: &Spec) -> &[Hook] {
    of(spec, |h| h.prestart())
}

/// The `createRuntime` hooks.
pub(crate) fn create_runtime(spec: &Spec) -> &[Hook] {
    of(spec, |h| h.create_runtime())
}

/// The `poststart` hooks.
pub(crate) fn poststart(spec: &Spec) -> &[Hook] {
    of(spec, |h| h.poststart())
}

/// The `poststop` hooks.
pub(crate) fn poststop(spec: &Spec) -> &[Hook] {
    of(spec, |h| h.poststop())
}

/// Runs `hooks` in order; the first failure is the error.
pub(crate) fn run_fatal(kind: &'static str, hooks: &[Hook], state: &State) -> Result<()> {
    for h in hooks {
        isolate::hooks::run(h, state).map_err(|source| Error::Hook { kind, source })?;
    }
    Ok(())
}

/// Runs every hook of `hooks`; failures become warnings.
pub(crate) fn run_warn(kind: &'static str, hooks: &[Hook], state: &State) -> Vec<String> {
    hooks
        .iter()
        .filter_map(|h| isolate::hooks::run(h, state).err())
        .map(|e| format!("{kind} hook: {e}"))
        .collect()
}
