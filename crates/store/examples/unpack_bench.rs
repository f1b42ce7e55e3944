//! Measures layer unpacking on a driver: layers applied one after another versus staged
//! concurrently (one thread per layer) and committed in order. Not a test; run as root:
//!
//! ```text
//! cargo run --release -p mydocker-store --example unpack_bench -- [DIR] [LAYERS] [SMALL_FILES] [BIG_MB] [DRIVER]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A benchmark reports its measurements.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::time::Instant;

use store::testing::{LayerTar, diff_id};
use store::{Digest, Store, decompress, driver};

fn gen_layer(i: usize, small: usize, big_mb: usize) -> Vec<u8> {
    let mut t = LayerTar::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64);
    let mut rnd = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    };
    for d in 0..(small / 100).max(1) {
        t.dir(&format!("l{i}/d{d}"), 0o755);
    }
    for f in 0..small {
        let len = 512 + (f * 37) % 7680;
        let content = if f % 2 == 0 {
            format!("line {f} of a text file\n")
                .repeat(len / 24 + 1)
                .into_bytes()
        } else {
            rnd(len)
        };
        t.file(&format!("l{i}/d{}/f{f}", f / 100), &content, 0o644);
    }
    for b in 0..2 {
        t.file(&format!("l{i}/big{b}"), &rnd(big_mb << 19), 0o644);
    }
    t.finish()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| format!("/var/tmp/mydocker-bench-{}", std::process::id()));
    let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(3);
    let small: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(5000);
    let big_mb: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(20);
    let drv_name = args.get(5).cloned().unwrap_or_else(|| "overlay".into());
    eprintln!("generating {n} layers of {small} small files + 2x{big_mb} MiB ...");
    let tars: Vec<Vec<u8>> = (0..n).map(|i| gen_layer(i, small, big_mb)).collect();
    let gz: Vec<Vec<u8>> = tars.iter().map(|t| gzip(t)).collect();
    let ids: Vec<Digest> = tars.iter().map(|t| diff_id(t)).collect();
    let chains = store::chain_ids(&ids).unwrap();
    let total: usize = tars.iter().map(Vec::len).sum();
    let total_gz: usize = gz.iter().map(Vec::len).sum();
    eprintln!("{} MB of tar, {} MB gzip", total >> 20, total_gz >> 20);

    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let order: Vec<&str> = (0..rounds)
        .flat_map(|r| {
            if r % 2 == 0 {
                ["concurrent", "sequential"]
            } else {
                ["sequential", "concurrent"]
            }
        })
        .collect();
    for run in order {
        let root = format!("{dir}/{run}");
        let _ = std::fs::remove_dir_all(&root);
        let st = Store::open(&root).unwrap();
        let d = driver::choose(&st, Some(&drv_name)).unwrap();
        sync();
        let start = Instant::now();
        if run == "sequential" {
            for i in 0..n {
                let parent = i.checked_sub(1).map(|p| chains[p].clone());
                let mut r =
                    decompress("application/vnd.oci.image.layer.v1.tar+gzip", &gz[i][..]).unwrap();
                d.apply_layer(parent.as_ref(), &ids[i], &mut r).unwrap();
            }
        } else {
            let staged: Vec<_> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..n)
                    .map(|i| {
                        let (d, gz, ids, chains) = (&d, &gz, &ids, &chains);
                        s.spawn(move || {
                            let parent = i.checked_sub(1).map(|p| chains[p].clone());
                            let mut r = decompress(
                                "application/vnd.oci.image.layer.v1.tar+gzip",
                                &gz[i][..],
                            )
                            .unwrap();
                            d.stage_layer(parent.as_ref(), &ids[i], &mut r).unwrap()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for s in staged {
                d.commit_layer(s).unwrap();
            }
        }
        let unpacked = start.elapsed();
        sync();
        let with_sync = start.elapsed();
        println!(
            "{drv_name} {run:>10}: {n} layers, {} MB tar: unpack {:.2}s, incl. sync {:.2}s",
            total >> 20,
            unpacked.as_secs_f64(),
            with_sync.as_secs_f64()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
    let _ = std::fs::remove_dir(&dir);
}

fn sync() {
    rustix::fs::sync();
}
