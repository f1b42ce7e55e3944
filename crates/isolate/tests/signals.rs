//! `SignalForwarder`: signals sent to the runtime reach the container (root).
//! Its own test binary: it raises signals on the test process.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};

use common::{Guard, Rootfs, options};
use isolate::{Container, ExitStatus, SignalForwarder};

#[test]
fn forwarded_signals_reach_the_container() {
    let r = Rootfs::busybox();
    // PID 1 with handlers: the signals must arrive (bounded loop: 100 s at most).
    let script = "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 42' TERM; echo ready; \
                  i=0; while [ $i -lt 2000 ]; do sleep 0.05; i=$((i+1)); done; exit 1";
    let mut running = Guard(
        Container::spawn(&r.spec(&["sh", "-c", script]), options())
            .unwrap()
            .start()
            .unwrap(),
    );
    let mut out = BufReader::new(running.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");

    let forwarder = SignalForwarder::start(running.pid()).unwrap();
    let me = rustix::process::getpid();
    rustix::process::kill_process(me, rustix::process::Signal::USR1).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got-usr1\n");
    rustix::process::kill_process(me, rustix::process::Signal::TERM).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got-term\n");
    assert_eq!(running.wait().unwrap(), ExitStatus::Exited(42));
    drop(forwarder);
}
