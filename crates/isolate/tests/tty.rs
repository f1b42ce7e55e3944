//! `-t`: the pty allocated inside the container, driven directly and through
//! `PtyProxy` with a program-side pty standing for the user's terminal (root).

#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::{AsFd, OwnedFd};

use common::{Guard, Rootfs, options};
use isolate::{Container, ExitStatus, PtyProxy};
use oci_spec::runtime::BoxBuilder;
use rustix::event::{PollFd, PollFlags};

fn tty_spec(r: &Rootfs, args: &[&str], rows: u64, cols: u64) -> oci_spec::runtime::Spec {
    let mut spec = r.spec(args);
    let p = spec.process_mut().as_mut().unwrap();
    p.set_terminal(Some(true));
    let size = BoxBuilder::default()
        .height(rows)
        .width(cols)
        .build()
        .unwrap();
    p.set_console_size(Some(size));
    p.set_env(Some(vec![
        "PATH=/bin".into(),
        "TERM=xterm".into(),
        "PS1=prompt# ".into(),
    ]));
    spec
}

/// Read from `fd` until `needle` shows up; bounded (each read waits at most 20 s, at most
/// 1000 reads). Returns everything read.
fn read_until(fd: impl AsFd, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..1000 {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let ready = rustix::event::poll(
            &mut fds,
            Some(&rustix::event::Timespec {
                tv_sec: 20,
                tv_nsec: 0,
            }),
        )
        .unwrap();
        assert!(
            ready > 0,
            "nothing more to read; so far: {:?}",
            String::from_utf8_lossy(&seen)
        );
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) | Err(rustix::io::Errno::IO) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
        if String::from_utf8_lossy(&seen).contains(needle) {
            return String::from_utf8_lossy(&seen).into_owned();
        }
    }
    panic!(
        "{needle:?} never came; got {:?}",
        String::from_utf8_lossy(&seen)
    );
}

/// Wait (bounded) until a child of `parent` named `comm` is the foreground process
/// group of its terminal, so that a typed Ctrl-C is meant for it.
fn wait_for_foreground_child(parent: i32, comm: &str) {
    for _ in 0..500 {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp session tty_nr tpgid ...
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let name = head.split_once('(').map(|(_, n)| n).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            if name == comm && f.len() > 5 && f[1] == parent.to_string() && f[2] == f[5] {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no foreground {comm} under pid {parent}");
}

fn write(fd: impl AsFd, s: &str) {
    let mut data = s.as_bytes();
    while !data.is_empty() {
        let n = rustix::io::write(&fd, data).unwrap();
        data = &data[n..];
    }
}

#[test]
fn shell_on_the_container_pty() {
    let r = Rootfs::busybox();
    let spec = tty_spec(&r, &["sh"], 24, 80);
    let mut running = Guard(Container::spawn(&spec, options()).unwrap().start().unwrap());
    let master = running.take_pty_master().expect("a terminal was asked for");
    read_until(&master, "prompt# ");
    write(&master, "tty; stty size; echo $((6*7))\n");
    let out = read_until(&master, "42");
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(
        out.contains("24 80"),
        "the console size is applied before exec: {out:?}"
    );
    write(&master, "exit 5\n");
    assert_eq!(running.wait().unwrap(), ExitStatus::Exited(5));
}

/// A pty pair standing for the user's terminal: (master the test types into, slave the
/// proxy uses as stdin/stdout).
fn host_terminal() -> (OwnedFd, OwnedFd) {
    let master =
        rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
            .unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    (master, slave)
}

fn set_size(fd: impl AsFd, rows: u16, cols: u16) {
    rustix::termios::tcsetwinsize(
        fd,
        rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
}

#[test]
fn proxy_raw_mode_window_size_and_ctrl_c() {
    let r = Rootfs::busybox();
    let (user, user_tty) = host_terminal();
    set_size(&user, 33, 101);
    let before = rustix::termios::tcgetattr(&user_tty).unwrap();

    let spec = tty_spec(&r, &["sh"], 33, 101);
    let mut running = Guard(Container::spawn(&spec, options()).unwrap().start().unwrap());
    let master = running.take_pty_master().unwrap();
    let proxy = PtyProxy::start_with(
        master,
        user_tty.try_clone().unwrap(),
        user_tty.try_clone().unwrap(),
    )
    .unwrap();
    let raw = rustix::termios::tcgetattr(&user_tty).unwrap();
    assert!(
        !raw.local_modes
            .contains(rustix::termios::LocalModes::ICANON),
        "the user's terminal is in raw mode while proxying"
    );

    read_until(&user, "prompt# ");
    write(&user, "stty size\n");
    read_until(&user, "33 101");

    // Ctrl-C reaches the container's foreground process through the pty.
    write(&user, "sleep 1000\n");
    read_until(&user, "sleep 1000\r\n");
    wait_for_foreground_child(running.pid(), "sleep");
    write(&user, "\x03");
    write(&user, "echo after-$((1+1))\n");
    read_until(&user, "after-2");

    // A resize of the user's terminal follows on SIGWINCH (bounded retries: the signal
    // is handled asynchronously).
    set_size(&user, 40, 120);
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::WINCH)
        .unwrap();
    let mut resized = false;
    for _ in 0..50 {
        write(&user, "stty size\n");
        let out = read_until(&user, "prompt# ");
        if out.contains("40 120") {
            resized = true;
            break;
        }
    }
    assert!(resized, "window size never followed the resize");

    write(&user, "exit 7\n");
    assert_eq!(running.wait().unwrap(), ExitStatus::Exited(7));
    proxy.wait().unwrap();
    let after = rustix::termios::tcgetattr(&user_tty).unwrap();
    assert_eq!(
        after.local_modes, before.local_modes,
        "terminal mode restored"
    );
    assert_eq!(after.input_modes, before.input_modes);
}
