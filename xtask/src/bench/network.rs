//! The cost of networking on `run --rm true` (default bridge vs `--network none`, beside
//! podman), and TCP throughput from the host into a container running busybox `nc -l`:
//! through a port published on 127.0.0.1, and directly to the container's address.
//! Transfers are bounded in size and time.

use super::jail::Jail;
use super::run::podman_ready;
use super::storage::difference;
use super::{Env, output, quiet};
use crate::measure::{
    Case, commands, compare, median_f64, one_line, show, table, throughput_table,
};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes sent per throughput sample.
const TRANSFER: usize = 512 << 20;
/// The port `nc` listens on inside the container.
const CONTAINER_PORT: u16 = 5001;
/// No step of a transfer may take longer.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn run(env: &mut Env) -> Result<String> {
    let runs = env.runs(20);
    let env = &*env;
    let root = env.md_root();
    let podman_root = env.podman_root();
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let podman = podman_ready(env, &podman_root);
    let md = |net: &str| env.md_run(&root, &["--rm", "--network", net, &env.busybox, "true"]);
    let rows = compare(
        runs,
        vec![
            Case::new("mydocker run --rm --network bridge", |_| md("bridge")),
            Case::new("mydocker run --rm --network none", |_| md("none")),
            Case::new("podman run --rm (default bridge network)", |_| {
                env.podman_run(&podman_root, &["--rm", &env.busybox, "true"])
            })
            .unavailable_if(podman.clone()),
            Case::new("podman run --rm --network none", |_| {
                env.podman_run(
                    &podman_root,
                    &["--rm", "--network", "none", &env.busybox, "true"],
                )
            })
            .unavailable_if(podman.clone()),
        ],
    );
    let mut table_rows = rows.clone();
    table_rows.insert(
        1,
        difference(
            "mydocker: cost of networking (bridge − none)",
            &rows[0],
            &rows[1],
        ),
    );
    table_rows.push(difference(
        "podman: cost of networking (bridge − none)",
        &rows[2],
        &rows[3],
    ));
    let mut out = table("network: run --rm `true` in busybox", &table_rows);
    out.push_str(&commands(&table_rows));

    out.push_str(&attach_detach(
        env,
        runs,
        &root,
        &podman_root,
        podman.clone(),
    )?);
    out.push_str(&throughput(env, &root, &podman_root, podman)?);
    Ok(out)
}

/// `network connect` and `network disconnect` of a running container (started on the
/// default bridge network) to a user network, alternately.
fn attach_detach(
    env: &Env,
    runs: usize,
    root: &Path,
    podman_root: &Path,
    podman: Option<String>,
) -> Result<String> {
    let pid = std::process::id();
    let net = format!("bench-net-{pid}");
    let md_c = format!("bench-net-md-{pid}");
    let pm_c = format!("bench-net-podman-{pid}");
    let main = "trap 'exit 0' TERM; sleep 600 & wait";
    let id = output(env.md(root).args([
        "network",
        "create",
        "--subnet",
        &format!("10.252.{}.0/24", pid % 256),
        &net,
    ]))?;
    let id = id.trim();
    env.user_bridges
        .borrow_mut()
        .push(format!("{}{}", env.bridge_prefix, &id[..id.len().min(12)]));
    quiet(&mut env.md_run(
        root,
        &["-d", "--name", &md_c, &env.busybox, "sh", "-c", main],
    ))?;
    let podman = podman.or_else(|| {
        quiet(env.podman(podman_root).args([
            "network",
            "create",
            "--subnet",
            &format!("10.251.{}.0/24", pid % 256),
            &net,
        ]))
        .and_then(|()| {
            quiet(&mut env.podman_run(
                podman_root,
                &["-d", "--name", &pm_c, &env.busybox, "sh", "-c", main],
            ))
        })
        .err()
        .map(|e| one_line(&format!("podman set-up failed: {}", e.root_cause())))
    });
    let md = |args: &[&str]| {
        let mut c = env.md(root);
        c.args(args);
        c
    };
    let pm = |args: &[&str]| {
        let mut c = env.podman(podman_root);
        c.args(args);
        c
    };
    let rows = compare(
        runs,
        vec![
            Case::new("mydocker network connect", |_| {
                md(&["network", "connect", &net, &md_c])
            }),
            Case::new("mydocker network disconnect", |_| {
                md(&["network", "disconnect", &net, &md_c])
            }),
            Case::new("podman network connect", |_| {
                pm(&["network", "connect", &net, &pm_c])
            })
            .unavailable_if(podman.clone()),
            Case::new("podman network disconnect", |_| {
                pm(&["network", "disconnect", &net, &pm_c])
            })
            .unavailable_if(podman.clone()),
        ],
    );
    let _ = quiet(env.md(root).args(["rm", "-f", &md_c]));
    let _ = quiet(env.md(root).args(["network", "rm", &net]));
    if podman.is_none() {
        let _ = quiet(env.podman(podman_root).args(["rm", "-f", "-t", "0", &pm_c]));
        let _ = quiet(env.podman(podman_root).args(["network", "rm", &net]));
    }
    let mut out = String::new();
    for (i, what) in ["connect", "disconnect"].iter().enumerate() {
        let pair = vec![rows[i].clone(), rows[i + 2].clone()];
        out.push_str(&table(
            &format!(
                "network {what}: a running container (on the default bridge network) \
                 to/from a user network"
            ),
            &pair,
        ));
        out.push_str(&commands(&pair));
    }
    Ok(out)
}

/// TCP throughput from the host into a container running busybox `nc -l`: through a port
/// published on 127.0.0.1, and directly to the container's address.
fn throughput(
    env: &Env,
    root: &Path,
    podman_root: &Path,
    podman: Option<String>,
) -> Result<String> {
    let tp_runs = env.runs(3);
    let listen = format!("ip -4 -o addr show eth0; exec nc -l -p {CONTAINER_PORT} > /dev/null");
    let mut results = Vec::new();
    for (name, tool, published) in [
        (
            "mydocker: published port 127.0.0.1:PORT",
            Tool::Mydocker,
            true,
        ),
        (
            "mydocker: direct to the container's address",
            Tool::Mydocker,
            false,
        ),
        ("podman: published port 127.0.0.1:PORT", Tool::Podman, true),
        (
            "podman: direct to the container's address",
            Tool::Podman,
            false,
        ),
    ] {
        if let (Tool::Podman, Some(reason)) = (tool, &podman) {
            results.push((name.to_owned(), "-".to_owned(), Err(reason.clone())));
            continue;
        }
        let mut speeds = Vec::new();
        let mut shown = String::new();
        let mut failure = None;
        for i in 0..tp_runs {
            if crate::measure::interrupted() {
                failure = Some("interrupted".to_owned());
                break;
            }
            let host_port = free_port()?;
            let mut extra = vec!["--rm".to_owned()];
            if published {
                extra.push("-p".into());
                extra.push(format!("127.0.0.1:{host_port}:{CONTAINER_PORT}"));
            }
            extra.extend([
                env.busybox.clone(),
                "sh".into(),
                "-c".into(),
                listen.clone(),
            ]);
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let (cmd, jail) = match tool {
                Tool::Mydocker => (env.md_run(root, &extra), None),
                Tool::Podman => (env.podman_run(podman_root, &extra), env.jail().ok()),
            };
            match transfer(cmd, published.then_some(host_port), jail) {
                Ok((shown_cmd, mbps)) => {
                    eprintln!("xtask: bench: {name} [{}/{tp_runs}] {mbps:.0} MB/s", i + 1);
                    if shown.is_empty() {
                        shown = shown_cmd;
                    }
                    speeds.push(mbps);
                }
                Err(e) => {
                    eprintln!("xtask: bench: {name} failed: {e:#}");
                    failure = Some(one_line(&format!("failed: {}", e.root_cause())));
                    break;
                }
            }
        }
        let result = match failure {
            Some(f) => Err(f),
            None => Ok((median_f64(&speeds), speeds.len())),
        };
        results.push((
            name.to_owned(),
            format!(
                "{shown}; xtask's client sends {} MiB to the address, half-closes and \
                 waits for the container to close",
                TRANSFER >> 20
            ),
            result,
        ));
    }
    Ok(throughput_table(
        &format!(
            "network: TCP throughput host -> container (busybox nc -l), {} MiB per sample \
             (podman's client connects from inside podman's private network namespace)",
            TRANSFER >> 20
        ),
        &results,
    ))
}

#[derive(Clone, Copy)]
enum Tool {
    Mydocker,
    Podman,
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The container child: killed (our own child, by PID) and reaped on drop if still there.
struct Container(Child);

impl Drop for Container {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if !matches!(self.0.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the container, reads its address, sends [`TRANSFER`] bytes to the published
/// port (or to the address), and returns the command line and MB/s (10^6 bytes per
/// second, from connect to the container closing the connection).
fn transfer(
    mut cmd: Command,
    host_port: Option<u16>,
    jail: Option<&Jail>,
) -> Result<(String, f64)> {
    let shown = show(&cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let mut container = Container(child);
    let stdout = container.0.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(STEP_TIMEOUT) {
        Ok(l) if !l.is_empty() => l,
        _ => {
            let _ = container.0.kill();
            let mut err = String::new();
            if let Some(mut e) = container.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            bail!("{shown}: no address printed: {}", one_line(&err));
        }
    };
    let ip = parse_inet(&line).with_context(|| format!("no address in {line:?}"))?;
    let addr = match host_port {
        Some(p) => SocketAddr::from((Ipv4Addr::LOCALHOST, p)),
        None => SocketAddr::from((ip, CONTAINER_PORT)),
    };
    // nc starts right after printing; retry refused connections for a bounded while.
    let connect = move || -> Result<(TcpStream, Instant)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = Instant::now();
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => return Ok((s, t)),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e).with_context(|| format!("connecting to {addr}")),
            }
        }
    };
    let (mut stream, start) = match jail {
        Some(jail) => jail.in_net(connect)?,
        None => connect()?,
    };
    stream.set_write_timeout(Some(STEP_TIMEOUT))?;
    stream.set_read_timeout(Some(STEP_TIMEOUT))?;
    let buf = vec![0x5au8; 1 << 20];
    let mut sent = 0;
    while sent < TRANSFER {
        let n = stream
            .write(&buf[..buf.len().min(TRANSFER - sent)])
            .with_context(|| format!("sending to {addr} after {sent} bytes"))?;
        if n == 0 {
            bail!("{addr} closed after {sent} bytes");
        }
        sent += n;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .with_context(|| format!("waiting for {addr} to close"))?;
    let secs = start.elapsed().as_secs_f64();
    // The container exits once nc has its EOF.
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        match container.0.try_wait()? {
            Some(s) if s.success() => break,
            Some(s) => bail!("{shown} exited with {s}"),
            None if Instant::now() > deadline => bail!("{shown} did not exit"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Ok((shown, TRANSFER as f64 / secs / 1e6))
}

/// The address of `ip -4 -o addr show` output: `2: eth0    inet 10.1.2.3/24 brd ...`.
fn parse_inet(line: &str) -> Option<Ipv4Addr> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == "inet")?;
    words.next()?.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_addresses_are_parsed_from_ip_output() {
        assert_eq!(
            parse_inet("2: eth0    inet 10.254.3.2/24 brd 10.254.3.255 scope global eth0"),
            Some(Ipv4Addr::new(10, 254, 3, 2))
        );
        assert_eq!(parse_inet("nothing here"), None);
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let p = free_port().unwrap();
        TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
    }
}
