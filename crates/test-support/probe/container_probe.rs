//! `container-probe`: a tiny static program the tests run *inside* containers (mounted
//! read-only from the host) to try what an attacker in a default container would try.
//!
//! Built by `build.rs` with `rustc -C target-feature=+crt-static` and nothing but std, so
//! it runs in any image (busybox has no libc). Every mode prints `key value` lines on
//! stdout and exits 0; the test decides what is acceptable.
//!
//! - `tiocsti MARKER`: for `/dev/tty` and fds 0, 1, 2, push MARKER into the terminal's
//!   input with `TIOCSTI` and print `tiocsti.<target> ok` or `tiocsti.<target> errno N`;
//!   then `pid`, `sid` (`getsid(0)`), `pgrp` and `tty_sid` (`TIOCGSID` on fd 0, or
//!   `errno N`).

use std::io::Error;
use std::os::fd::AsRawFd;

const TIOCSTI: u64 = 0x5412;
const TIOCGSID: u64 = 0x5429;

unsafe extern "C" {
    fn ioctl(fd: i32, request: u64, ...) -> i32;
    fn getsid(pid: i32) -> i32;
    fn getpgrp() -> i32;
}

fn errno() -> i32 {
    Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// Pushes `marker` into the input queue of the terminal `fd` refers to.
fn tiocsti(fd: i32, marker: &[u8]) -> Result<(), i32> {
    for b in marker {
        // SAFETY: TIOCSTI reads one byte through the pointer, which points to a live byte.
        if unsafe { ioctl(fd, TIOCSTI, b as *const u8) } < 0 {
            return Err(errno());
        }
    }
    Ok(())
}

fn report(key: &str, r: Result<(), i32>) {
    match r {
        Ok(()) => println!("{key} ok"),
        Err(e) => println!("{key} errno {e}"),
    }
}

fn probe_tiocsti(marker: &str) {
    let marker = marker.as_bytes();
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        Ok(tty) => report("tiocsti.tty", tiocsti(tty.as_raw_fd(), marker)),
        Err(e) => println!("tiocsti.tty errno {}", e.raw_os_error().unwrap_or(-1)),
    }
    for fd in 0..3 {
        report(&format!("tiocsti.fd{fd}"), tiocsti(fd, marker));
    }
    println!("pid {}", std::process::id());
    // SAFETY: getsid(0) and getpgrp() only read this process's ids.
    let (sid, pgrp) = unsafe { (getsid(0), getpgrp()) };
    println!("sid {sid}");
    println!("pgrp {pgrp}");
    let mut tty_sid: i32 = 0;
    // SAFETY: TIOCGSID writes one int through the pointer, which points to a live int.
    if unsafe { ioctl(0, TIOCGSID, &mut tty_sid as *mut i32) } < 0 {
        println!("tty_sid errno {}", errno());
    } else {
        println!("tty_sid {tty_sid}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("tiocsti") => probe_tiocsti(args.get(2).map_or("X", String::as_str)),
        _ => {
            eprintln!("usage: container-probe tiocsti MARKER");
            std::process::exit(2);
        }
    }
}
