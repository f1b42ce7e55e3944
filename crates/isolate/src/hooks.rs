//! Running OCI lifecycle hooks (`config.json`'s `hooks`): the binary at `path` with
//! `args` (whose first element is `argv[0]`) and exactly the environment `env`, the
//! container's state as JSON on its standard input, killed after `timeout` seconds.
//!
//! An OCI runtime runs `prestart`, `createRuntime`, `poststart` and `poststop` itself with
//! [`run`]; the container's init runs `createContainer` (in the container's mount
//! namespace, before `pivot_root`) and `startContainer` (after the start gate, just
//! before the user's command) when [`SpawnOptions::hook_state`](crate::SpawnOptions::hook_state)
//! is set.
//!
//! The hook's output is captured (in an anonymous memory file, so that a chatty hook can
//! neither block nor need a thread) and quoted in the error when it fails.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, State};

/// At most this much of a failed hook's output is quoted.
const OUTPUT_LIMIT: u64 = 4096;

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The hook could not be started.
    #[error("hook {}: {source}", path.display())]
    Spawn {
        /// The hook's binary.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The hook exited unsuccessfully.
    #[error("hook {} failed ({status}){output}", path.display())]
    Failed {
        /// The hook's binary.
        path: PathBuf,
        /// How it ended.
        status: ExitStatus,
        /// What it printed (`: ` and the text, or empty).
        output: String,
    },
    /// The hook ran longer than its timeout and was killed.
    #[error("hook {} timed out after {secs} s", path.display())]
    TimedOut {
        /// The hook's binary.
        path: PathBuf,
        /// The timeout.
        secs: i64,
    },
    /// The hook's timeout is not a positive number.
    #[error("hook {}: the timeout must be greater than zero (got {secs})", path.display())]
    BadTimeout {
        /// The hook's binary.
        path: PathBuf,
        /// The value given.
        secs: i64,
    },
}

/// Runs `hook` with `state` (serialized as JSON) on its standard input and waits for it.
pub fn run(hook: &Hook, state: &State) -> Result<(), HookError> {
    let path = hook.path().clone();
    let spawn_err = |source: io::Error| HookError::Spawn {
        path: path.clone(),
        source,
    };
    let timeout = match hook.timeout() {
        Some(secs) if secs <= 0 => {
            return Err(HookError::BadTimeout {
                path: path.clone(),
                secs,
            });
        }
        other => other,
    };
    let body = serde_json::to_vec(state).map_err(|e| spawn_err(io::Error::other(e)))?;
    let output = capture_file().map_err(spawn_err)?;
    let mut cmd = Command::new(&path);
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear()
        .envs(
            hook.env()
                .iter()
                .flatten()
                .filter_map(|e| e.split_once('=')),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::from(output.try_clone().map_err(spawn_err)?))
        .stderr(Stdio::from(output.try_clone().map_err(spawn_err)?));
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input closes the pipe: not an error.
        let _ = stdin.write_all(&body);
    }
    let status = match timeout {
        None => child.wait().map_err(spawn_err)?,
        Some(secs) => match wait_until(&mut child, Duration::from_secs(secs.unsigned_abs()))
            .map_err(spawn_err)?
        {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::TimedOut { path, secs });
            }
        },
    };
    if status.success() {
        return Ok(());
    }
    Err(HookError::Failed {
        path,
        status,
        output: read_output(output),
    })
}

/// Waits for `child` at most `limit`; `None` when it is still running.
fn wait_until(child: &mut std::process::Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// An anonymous file for the hook's output.
fn capture_file() -> io::Result<File> {
    let fd = rustix::fs::memfd_create("oci-hook-output", rustix::fs::MemfdFlags::CLOEXEC)?;
    Ok(File::from(fd))
}

/// `: <the start of the output>`, or nothing when the hook printed nothing.
fn read_output(mut f: File) -> String {
    let mut text = String::new();
    if f.rewind().is_ok() {
        let _ = f.take(OUTPUT_LIMIT).read_to_string(&mut text);
    }
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.replace('\n', " | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{ContainerState, HookBuilder, StateBuilder};

    fn state() -> State {
        StateBuilder::default()
            .version("1.1.0")
            .id("c1")
            .status(ContainerState::Created)
            .pid(42)
            .bundle("/b")
            .build()
            .unwrap()
    }

    fn sh(script: &str) -> HookBuilder {
        HookBuilder::default().path("/bin/sh").args(vec![
            "sh".to_string(),
            "-c".to_string(),
            script.to_string(),
        ])
    }

    #[test]
    fn state_on_stdin_and_only_the_given_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("state");
        let env = dir.path().join("env");
        let script = format!(
            "cat > {}; echo \"$X$HOME\" > {}",
            out.display(),
            env.display()
        );
        let hook = sh(&script).env(vec!["X=1".to_string()]).build().unwrap();
        run(&hook, &state()).unwrap();
        let back: State = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(back.pid(), &Some(42));
        assert_eq!(back.id(), "c1");
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "1\n");
    }

    #[test]
    fn failures_quote_the_output_and_timeouts_kill() {
        let err = run(&sh("echo boom >&2; exit 3").build().unwrap(), &state()).unwrap_err();
        assert!(matches!(err, HookError::Failed { .. }), "{err}");
        assert!(err.to_string().contains("boom"), "{err}");
        let slow = sh("sleep 30").timeout(1i64).build().unwrap();
        let err = run(&slow, &state()).unwrap_err();
        assert!(matches!(err, HookError::TimedOut { secs: 1, .. }), "{err}");
        let bad = sh("true").timeout(0i64).build().unwrap();
        assert!(matches!(
            run(&bad, &state()).unwrap_err(),
            HookError::BadTimeout { .. }
        ));
        let missing = HookBuilder::default()
            .path("/nonexistent/hook")
            .build()
            .unwrap();
        assert!(matches!(
            run(&missing, &state()).unwrap_err(),
            HookError::Spawn { .. }
        ));
    }
}
