//! Measures attach+detach latency and TCP throughput host -> container through a
//! published 127.0.0.1 port (DNAT, what the library does), directly to the container's
//! address, and through a minimal userland proxy (what the library chose not to do).
//!
//! Runs as root inside a throw-away network namespace; traffic stays on 127.0.0.1 and
//! the namespace's own veth. Bounded: fixed cycle counts, 512 MiB per transfer, socket
//! timeouts.
//!
//! `cargo run -p mydocker-network --example measure`

// A measuring program: what it prints is its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use network::{AttachOptions, CreateOptions, PortSpec};
use support::{NsHolder, Sandbox, TestNet};

const CYCLES: usize = 30;
const BYTES: u64 = 512 << 20;
const RUNS: usize = 3;

fn main() {
    if let Some(reason) = support::skip_reason() {
        support::report_skip(&reason);
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        t.nets
            .create(
                "bench",
                &CreateOptions {
                    subnet: Some("10.40.0.0/24".parse().expect("subnet")),
                    ..CreateOptions::default()
                },
            )
            .expect("create");
        latency(&t);
        throughput(&t);
    });
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn latency(t: &TestNet) {
    let c = NsHolder::new();
    for (label, ports) in [
        ("no port", vec![]),
        (
            "one published port",
            PortSpec::parse("127.0.0.1::80").expect("spec"),
        ),
    ] {
        let (mut attach, mut detach) = (Vec::new(), Vec::new());
        for i in 0..CYCLES {
            let id = format!("lat{i}");
            let opts = AttachOptions {
                ports: ports.clone(),
                ..AttachOptions::default()
            };
            let start = Instant::now();
            t.nets
                .attach(&c.netns(), &id, "bench", &opts)
                .expect("attach");
            attach.push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            t.nets.detach(&id, "bench").expect("detach");
            detach.push(start.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "attach+detach ({label}): attach median {:.1} ms, detach median {:.1} ms ({CYCLES} cycles)",
            median(attach),
            median(detach)
        );
    }
    // `run --rm`: the container has exited (its namespace, and with it the veth pair,
    // is being destroyed by the kernel) when detach runs.
    let mut detach = Vec::new();
    for i in 0..10 {
        let mut c = NsHolder::new();
        let id = format!("exited{i}");
        t.nets
            .attach(&c.netns(), &id, "bench", &AttachOptions::default())
            .expect("attach");
        c.kill();
        let start = Instant::now();
        t.nets.detach(&id, "bench").expect("detach");
        detach.push(start.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "detach after the container exited: median {:.1} ms (10 cycles)",
        median(detach)
    );
}

/// A sink in the container's namespace: accepts connections and discards what they
/// send, until `count` connections are served.
fn sink(c: &NsHolder, count: usize) -> std::thread::JoinHandle<()> {
    let path = c.ns_path();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).expect("open netns");
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        let l = TcpListener::bind("0.0.0.0:80").expect("bind 80 in container");
        tx.send(()).expect("ready");
        let mut buf = vec![0u8; 1 << 18];
        for _ in 0..count {
            let (mut s, _) = l.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
    });
    rx.recv().expect("sink ready");
    h
}

fn send(addr: SocketAddr) -> f64 {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let chunk = vec![0x5au8; 1 << 18];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < BYTES {
        s.write_all(&chunk).expect("write");
        sent += chunk.len() as u64;
    }
    s.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = [0u8; 16];
    let _ = s.read(&mut rest); // EOF once the sink has read everything
    let secs = start.elapsed().as_secs_f64();
    sent as f64 * 8.0 / secs / 1e9
}

/// A minimal userland proxy on 127.0.0.1 forwarding one direction per connection.
fn proxy(target: SocketAddr, count: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = l.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        for _ in 0..count {
            let (mut inbound, _) = l.accept().expect("accept");
            let mut outbound =
                TcpStream::connect_timeout(&target, Duration::from_secs(5)).expect("connect");
            std::io::copy(&mut inbound, &mut outbound).expect("copy");
            let _ = outbound.shutdown(Shutdown::Write);
            let mut rest = [0u8; 16];
            let _ = outbound.read(&mut rest);
            let _ = inbound.shutdown(Shutdown::Both);
        }
    });
    (port, h)
}

fn throughput(t: &TestNet) {
    let c = NsHolder::new();
    let opts = AttachOptions {
        ports: PortSpec::parse("127.0.0.1::80").expect("spec"),
        ..AttachOptions::default()
    };
    let att = t
        .nets
        .attach(&c.netns(), "tp", "bench", &opts)
        .expect("attach");
    let published = att.ports[0].host_port;
    let direct = SocketAddr::from((att.ip, 80));
    let server = sink(&c, RUNS * 3);
    let (proxy_port, proxy_thread) = proxy(direct, RUNS);
    let (mut d, mut n, mut p) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        d.push(send(direct));
        n.push(send(SocketAddr::from((Ipv4Addr::LOCALHOST, published))));
        p.push(send(SocketAddr::from((Ipv4Addr::LOCALHOST, proxy_port))));
    }
    server.join().expect("sink");
    proxy_thread.join().expect("proxy");
    let (d, n, p) = (median(d), median(n), median(p));
    println!(
        "TCP host -> container, {} MiB x {RUNS}, median:",
        BYTES >> 20
    );
    println!("  direct to {}:80            {d:.2} Gbit/s", att.ip);
    println!(
        "  127.0.0.1:{published} (DNAT, chosen)   {n:.2} Gbit/s  ({:.0}% of direct)",
        n / d * 100.0
    );
    println!(
        "  127.0.0.1:{proxy_port} (userland proxy) {p:.2} Gbit/s  ({:.0}% of direct)",
        p / d * 100.0
    );
    t.nets.detach("tp", "bench").expect("detach");
}
