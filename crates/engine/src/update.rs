//! `update`: new resource limits and restart policy for a container, running or not.
//! The limits are checked as at `create`, written to the cgroup of a running container,
//! to its runtime spec (for its next start) and to its stored options (what `inspect`
//! shows); the restart policy is read by the container's owner at its next exit.

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, invalid};
use crate::lifecycle::{cgroup_of, load_spec};
use crate::record::Status;
use crate::recovery::lookup;
use crate::restart::RestartPolicy;

/// `dst` becomes `src` when that is set.
fn set<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
    if let Some(v) = src {
        *dst = Some(v.clone());
    }
}

/// What `update` changes; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--cpu-period` (0 clears it).
    pub cpu_period: Option<i64>,
    /// `--cpu-quota` (0 clears it).
    pub cpu_quota: Option<i64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `-m/--memory` in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` in bytes, -1 for unlimited.
    pub memory_swap: Option<i64>,
    /// `--memory-reservation` in bytes (0 clears it).
    pub memory_reservation: Option<i64>,
    /// `--blkio-weight` (0 keeps the current weight, as in docker).
    pub blkio_weight: Option<u16>,
    /// `--pids-limit` (0 or less: unlimited).
    pub pids_limit: Option<i64>,
    /// `--restart`.
    pub restart: Option<RestartPolicy>,
}

impl Update {
    /// Whether anything is to change.
    pub fn is_empty(&self) -> bool {
        *self == Update::default()
    }
}

impl Engine {
    /// docker's `update` of one container (the cgroup's warnings, such as missing swap
    /// accounting, go to the reporter).
    ///
    /// # Errors
    /// No such container, an invalid value (docker's messages), a restart policy for a
    /// `--rm` container, or the cgroup refused the limits.
    pub fn update(&self, name: &str, update: &Update) -> Result<()> {
        let rec = lookup(self, name)?;
        let containers = Containers::new(&self.config.root);
        let _lock = containers.lock(&rec.id)?;
        let mut rec = containers.load(&rec.id)?;
        let mut opts = rec.options.clone();
        if let Some(p) = update.restart {
            if rec.auto_remove && !p.is_none() {
                invalid!(
                    "Cannot update container {}: Restart policy cannot be updated because AutoRemove is enabled for the container",
                    rec.id
                );
            }
            opts.restart = p;
        }
        if let Some(m) = update.memory {
            // Docker: a new memory limit above the memory+swap limit set before needs a
            // new memory+swap limit too.
            if update.memory_swap.is_none()
                && let Some(swap) = opts.memory_swap
                && swap > 0
                && m > swap
            {
                invalid!(
                    "Cannot update container {}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
                    rec.id
                );
            }
            opts.memory = Some(m);
        }
        set(&mut opts.memory_swap, &update.memory_swap);
        set(&mut opts.cpus, &update.cpus);
        set(&mut opts.cpu_period, &update.cpu_period);
        set(&mut opts.cpu_quota, &update.cpu_quota);
        set(&mut opts.cpu_shares, &update.cpu_shares);
        set(&mut opts.memory_reservation, &update.memory_reservation);
        set(
            &mut opts.blkio_weight,
            &update.blkio_weight.filter(|w| *w != 0),
        );
        set(&mut opts.cpuset_cpus, &update.cpuset_cpus);
        set(&mut opts.cpuset_mems, &update.cpuset_mems);
        set(&mut opts.pids_limit, &update.pids_limit);
        let online_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let new = crate::spec::resources(&opts, online_cpus)?;

        // The runtime spec keeps its device rules; the limits are the new ones.
        let dir = containers.dir(&rec.id);
        let mut spec = load_spec(&dir, &rec.id)?;
        if let Some(linux) = spec.linux_mut() {
            let mut res = linux.resources().clone().unwrap_or_default();
            res.set_cpu(new.cpu().clone());
            res.set_memory(*new.memory());
            res.set_pids(*new.pids());
            res.set_block_io(new.block_io().clone());
            linux.set_resources(Some(res));
        }
        // A container waiting for its restart has no cgroup: its next start applies them.
        if matches!(rec.state.status, Status::Running | Status::Paused) {
            for w in cgroup_of(&rec)?.apply(&new)? {
                self.warn(w);
            }
        }
        let bytes = serde_json::to_vec_pretty(&spec)
            .map_err(|e| Error::json("encoding the runtime spec", e))?;
        fsutil::write_atomic(&dir.join("config.json"), &bytes)?;
        rec.options = opts;
        containers.save(&rec)
    }
}
