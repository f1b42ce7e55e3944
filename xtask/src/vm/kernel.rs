//! The guest kernel: Debian's current `linux-image-<version>-amd64` (the package the
//! `linux-image-amd64` metapackage depends on), unpacked into the cache, plus the uncompressed
//! `vmlinux` for a PVH boot and the dependency-ordered list of modules the guest loads.

use super::debs;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Modules the guest loads at boot, by name, with their dependencies (from each module's
/// `.modinfo`): what the harness needs to mount its disk and shares, and what every container
/// test needs. Loading a module costs about 0.1 s under TCG: the rest load on demand.
pub(crate) const BOOT_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "9pnet_virtio",
    "9p",
    "crc32c_generic",
    "ext4",
    "overlay",
    "veth",
    "bridge",
    "nf_tables",
    "nf_nat",
    "nf_conntrack",
];

/// Modules in the guest image (loadable with `modprobe`, which the kernel runs for
/// `request_module`, e.g. for an nftables expression); a trailing `*` matches a prefix.
pub(crate) const MODULES: &[&str] = &[
    // Devices and filesystems the harness itself uses.
    "virtio_pci",
    "virtio_blk",
    "virtio_console",
    "9pnet_virtio",
    "9p",
    "crc32c_generic",
    "crc32c_intel",
    "ext4",
    // What containers need.
    "overlay",
    "veth",
    "bridge",
    "br_netfilter",
    "dummy",
    "tun",
    "loop",
    "nf_tables",
    "nft_*",
    "nf_nat",
    "nf_conntrack",
    "nf_conntrack_netlink",
    "nf_reject_ipv4",
    "nf_reject_ipv6",
    "nfnetlink_log",
];

/// The parts of the kernel package unpacked (GNU tar patterns, `*` not crossing `/`).
const UNPACK: &[&str] = &[
    "./boot/vmlinuz-*",
    "./boot/config-*",
    "./lib/modules/*/modules.builtin",
    "./lib/modules/*/kernel/arch",
    "./lib/modules/*/kernel/crypto",
    "./lib/modules/*/kernel/fs",
    "./lib/modules/*/kernel/lib",
    "./lib/modules/*/kernel/net",
    "./lib/modules/*/kernel/drivers/block",
    "./lib/modules/*/kernel/drivers/char",
    "./lib/modules/*/kernel/drivers/virtio",
    "./lib/modules/*/kernel/drivers/net/*.ko",
];

#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    /// `uname -r` of the guest, e.g. `6.1.0-56-amd64`.
    pub(crate) release: String,
    /// Where the package is unpacked (holds `boot/` and `lib/modules/`).
    pub(crate) root: PathBuf,
    /// What qemu's `-kernel` gets: the ELF `vmlinux` (PVH entry) or, failing that, the bzImage.
    pub(crate) image: PathBuf,
}

impl Kernel {
    pub(crate) fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.release)
    }
}

/// Downloads and unpacks the kernel package once per version, and extracts `vmlinux`.
pub(crate) fn prepare(cache: &Path) -> Result<Kernel> {
    let meta = debs::depends("linux-image-amd64")?;
    let name = meta
        .iter()
        .flatten()
        .find(|d| d.starts_with("linux-image-") && d.as_str() != "linux-image-amd64")
        .context("linux-image-amd64 depends on no versioned linux-image package")?
        .clone();
    let pkg = debs::candidate(&name)?;
    let root = cache.join("kernel").join(pkg.key());
    // Only what the guest can use: the kernel, and the module directories MODULES and
    // their dependencies live in (a tenth of the package, which matters on a fresh clone).
    debs::fetch_into(std::slice::from_ref(&pkg), &root, UNPACK)?;
    let release = name
        .strip_prefix("linux-image-")
        .unwrap_or(&name)
        .to_owned();
    let bz = root.join("boot").join(format!("vmlinuz-{release}"));
    if !bz.is_file() {
        bail!("{} has no {}", pkg.key(), bz.display());
    }
    let vmlinux = root.join("boot").join(format!("vmlinux-{release}"));
    let image = if vmlinux.is_file() {
        vmlinux
    } else {
        match extract_vmlinux(&bz, &vmlinux) {
            Ok(()) => vmlinux,
            Err(err) => {
                eprintln!("xtask: vm: no vmlinux ({err:#}); booting the bzImage (slower)");
                bz
            }
        }
    };
    Ok(Kernel {
        release,
        root,
        image,
    })
}

/// Where the compressed kernel sits inside a bzImage (boot protocol >= 2.08 header fields).
pub(crate) fn bzimage_payload(image: &[u8]) -> Result<&[u8]> {
    let u16_at = |o: usize| {
        image
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        image
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if image.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not a bzImage (no HdrS)");
    }
    let version = u16_at(0x206).unwrap_or(0);
    if version < 0x208 {
        bail!("boot protocol {version:#x} has no payload fields");
    }
    let setup_sects = match image.get(0x1f1) {
        Some(0) | None => 4,
        Some(n) => usize::from(*n),
    };
    let (Some(off), Some(len)) = (u32_at(0x248), u32_at(0x24c)) else {
        bail!("bzImage header truncated");
    };
    let start = (setup_sects + 1) * 512 + off as usize;
    image
        .get(start..start + len as usize)
        .context("bzImage payload out of bounds")
}

/// Decompresses the bzImage's payload into an ELF `vmlinux` (xz, gzip or zstd, with the
/// matching command-line tool).
fn extract_vmlinux(bz: &Path, dest: &Path) -> Result<()> {
    let image = fs::read(bz).with_context(|| format!("reading {}", bz.display()))?;
    let payload = bzimage_payload(&image)?;
    let tool: &[&str] = if payload.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        // The payload ends with the 4-byte uncompressed size: ignore what follows the stream.
        &["xz", "-dc", "--single-stream"]
    } else if payload.starts_with(&[0x1f, 0x8b]) {
        &["gzip", "-dc"]
    } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        &["zstd", "-dcq"]
    } else {
        bail!(
            "unknown payload compression {:02x?}",
            &payload[..4.min(payload.len())]
        );
    };
    let tmp = dest.with_extension("tmp");
    let out = fs::File::create(&tmp)?;
    let mut child = Command::new(tool[0])
        .args(&tool[1..])
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", tool[0]))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    // gzip and zstd may complain about the trailing size bytes; the ELF check decides.
    let write_result = stdin.write_all(payload);
    drop(stdin);
    let result = child.wait_with_output()?;
    let mut head = [0u8; 4];
    let ok = fs::File::open(&tmp)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && head == *b"\x7fELF";
    if !ok {
        let _ = fs::remove_file(&tmp);
        bail!(
            "{} produced no ELF ({write_result:?}, {}): {}",
            tool[0],
            result.status,
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    fs::rename(&tmp, dest)?;
    Ok(())
}

/// A loadable module of the guest kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Module {
    pub(crate) name: String,
    /// Path relative to `lib/modules/<release>/`.
    pub(crate) rel: String,
    pub(crate) depends: Vec<String>,
    pub(crate) aliases: Vec<String>,
}

/// `foo-bar.ko` -> `foo_bar` (the kernel treats `-` and `_` alike in module names).
fn module_name(file: &str) -> Option<String> {
    file.strip_suffix(".ko").map(|n| n.replace('-', "_"))
}

/// The modules matching `wanted`, with their dependencies, ordered so that each comes after
/// everything it depends on. Built-in modules are skipped; an exact name that is neither a
/// module nor built in is an error (a typo would otherwise go unnoticed until a test fails).
pub(crate) fn resolve_modules(kernel: &Kernel, wanted: &[&str]) -> Result<Vec<Module>> {
    let dir = kernel.modules_dir();
    let mut index: BTreeMap<String, String> = BTreeMap::new();
    walk_modules(&dir, &dir, &mut index)?;
    let builtin: BTreeSet<String> = fs::read_to_string(dir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit('/').next().and_then(module_name))
        .collect();
    if index.is_empty() {
        bail!(
            "no *.ko under {} (compressed modules are not supported)",
            dir.display()
        );
    }
    let mut roots = Vec::new();
    for w in wanted {
        if let Some(prefix) = w.strip_suffix('*') {
            roots.extend(index.keys().filter(|n| n.starts_with(prefix)).cloned());
        } else if index.contains_key(*w) {
            roots.push((*w).to_owned());
        } else if !builtin.contains(*w) {
            bail!("kernel {} has no module {w}", kernel.release);
        }
    }
    let mut order = Vec::new();
    let mut state: BTreeMap<String, bool> = BTreeMap::new(); // false: visiting, true: done
    for r in roots {
        visit(&r, &dir, &index, &builtin, &mut state, &mut order)?;
    }
    Ok(order)
}

fn visit(
    name: &str,
    dir: &Path,
    index: &BTreeMap<String, String>,
    builtin: &BTreeSet<String>,
    state: &mut BTreeMap<String, bool>,
    order: &mut Vec<Module>,
) -> Result<()> {
    match state.get(name) {
        Some(true) => return Ok(()),
        Some(false) => bail!("module dependency cycle through {name}"),
        None => {}
    }
    let Some(rel) = index.get(name) else {
        if builtin.contains(name) {
            return Ok(());
        }
        bail!(
            "module {name} is needed but neither unpacked (see UNPACK in {}) nor built in",
            file!()
        );
    };
    state.insert(name.to_owned(), false);
    let bytes = fs::read(dir.join(rel)).with_context(|| format!("reading module {rel}"))?;
    let info = modinfo(&bytes).with_context(|| format!("module {rel}"))?;
    let depends: Vec<String> = info
        .iter()
        .filter(|(k, _)| k == "depends")
        .flat_map(|(_, v)| v.split(','))
        .filter(|d| !d.is_empty())
        .map(|d| d.replace('-', "_"))
        .collect();
    let aliases = info
        .iter()
        .filter(|(k, _)| k == "alias")
        .map(|(_, v)| v.clone())
        .collect();
    for d in &depends {
        visit(d, dir, index, builtin, state, order)?;
    }
    state.insert(name.to_owned(), true);
    order.push(Module {
        name: name.to_owned(),
        rel: rel.clone(),
        depends,
        aliases,
    });
    Ok(())
}

fn walk_modules(base: &Path, dir: &Path, index: &mut BTreeMap<String, String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk_modules(base, &path, index)?;
        } else if let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(module_name)
        {
            let rel = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            index.insert(name, rel);
        }
    }
    Ok(())
}

/// The `key=value` pairs of an ELF64 module's `.modinfo` section.
pub(crate) fn modinfo(elf: &[u8]) -> Result<Vec<(String, String)>> {
    let rd16 = |o: usize| -> Result<usize> {
        let b = elf.get(o..o + 2).context("ELF truncated")?;
        Ok(usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let rd32 = |o: usize| -> Result<usize> {
        let b = elf.get(o..o + 4).context("ELF truncated")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let rd64 = |o: usize| -> Result<usize> {
        let b = elf.get(o..o + 8).context("ELF truncated")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        usize::try_from(u64::from_le_bytes(a)).context("ELF offset too big")
    };
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        bail!("not a little-endian ELF64 file");
    }
    let (shoff, shentsize, shnum, shstrndx) = (rd64(0x28)?, rd16(0x3a)?, rd16(0x3c)?, rd16(0x3e)?);
    let section = |i: usize| -> Result<(usize, usize, usize)> {
        let h = shoff + i * shentsize;
        Ok((rd32(h)?, rd64(h + 24)?, rd64(h + 32)?)) // name, offset, size
    };
    let (_, str_off, str_size) = section(shstrndx)?;
    let names = elf
        .get(str_off..str_off + str_size)
        .context("bad section name table")?;
    for i in 0..shnum {
        let (name, off, size) = section(i)?;
        let sname = names.get(name..).unwrap_or(&[]);
        let sname = &sname[..sname.iter().position(|b| *b == 0).unwrap_or(sname.len())];
        if sname == b".modinfo" {
            let data = elf.get(off..off + size).context("bad .modinfo bounds")?;
            return Ok(data
                .split(|b| *b == 0)
                .filter_map(|kv| {
                    let s = String::from_utf8_lossy(kv);
                    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
                })
                .collect());
        }
    }
    bail!("no .modinfo section")
}

/// `modules.dep` text for a set of modules (paths relative to the modules directory), so
/// busybox `modprobe` in the guest can autoload them when the kernel asks.
pub(crate) fn modules_dep(mods: &[Module]) -> String {
    let by_name: BTreeMap<&str, &str> = mods
        .iter()
        .map(|m| (m.name.as_str(), m.rel.as_str()))
        .collect();
    let mut out = String::new();
    for m in mods {
        out.push_str(&m.rel);
        out.push(':');
        // Full transitive closure, nearest first, as depmod writes it.
        let mut seen = BTreeSet::new();
        let mut queue: Vec<&str> = m.depends.iter().map(String::as_str).collect();
        while let Some(d) = queue.first().copied() {
            queue.remove(0);
            if !seen.insert(d) {
                continue;
            }
            if let Some(rel) = by_name.get(d) {
                out.push(' ');
                out.push_str(rel);
                if let Some(dm) = mods.iter().find(|x| x.name == d) {
                    queue.extend(dm.depends.iter().map(String::as_str));
                }
            }
        }
        out.push('\n');
    }
    out
}

/// `modules.alias` text for a set of modules.
pub(crate) fn modules_alias(mods: &[Module]) -> String {
    let mut out = String::new();
    for m in mods {
        for a in &m.aliases {
            out.push_str(&format!("alias {a} {}\n", m.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with a section name table and a `.modinfo` section.
    fn fake_module(modinfo: &[u8]) -> Vec<u8> {
        let shstr = b"\0.shstrtab\0.modinfo\0";
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let str_off = elf.len();
        elf.extend_from_slice(shstr);
        let info_off = elf.len();
        elf.extend_from_slice(modinfo);
        while !elf.len().is_multiple_of(8) {
            elf.push(0);
        }
        let shoff = elf.len();
        let mut sh = |name: u32, off: usize, size: usize| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[24..32].copy_from_slice(&(off as u64).to_le_bytes());
            h[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            elf.extend_from_slice(&h);
        };
        sh(0, 0, 0);
        sh(1, str_off, shstr.len());
        sh(11, info_off, modinfo.len());
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        elf
    }

    #[test]
    fn modinfo_reads_the_section() {
        let elf = fake_module(b"license=GPL\0depends=nf_tables,nf-nat\0alias=nft-expr-masq\0\0");
        let info = modinfo(&elf).unwrap();
        assert_eq!(
            info,
            [
                ("license".into(), "GPL".into()),
                ("depends".into(), "nf_tables,nf-nat".into()),
                ("alias".into(), "nft-expr-masq".into()),
            ]
        );
        assert!(modinfo(b"not an elf").is_err());
        assert!(modinfo(&elf[..70]).is_err());
    }

    #[test]
    fn modules_are_ordered_after_their_dependencies() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lib/modules/9.9-test");
        fs::create_dir_all(dir.join("kernel/net")).unwrap();
        let put =
            |rel: &str, info: &str| fs::write(dir.join(rel), fake_module(info.as_bytes())).unwrap();
        put(
            "kernel/net/nft_masq.ko",
            "depends=nf_tables,nf_nat\0alias=nft-expr-masq\0",
        );
        put("kernel/net/nf_tables.ko", "depends=nfnetlink,libcrc32c\0");
        put("kernel/net/nf_nat.ko", "depends=nf_conntrack\0");
        put("kernel/net/nf_conntrack.ko", "depends=libcrc32c\0");
        put("kernel/net/nfnetlink.ko", "depends=\0");
        put("kernel/net/nft-ct.ko", "depends=nf_tables\0");
        put("kernel/net/unrelated.ko", "depends=\0");
        fs::write(dir.join("modules.builtin"), "kernel/lib/libcrc32c.ko\n").unwrap();
        let k = Kernel {
            release: "9.9-test".into(),
            root: tmp.path().to_owned(),
            image: tmp.path().join("none"),
        };
        let mods = resolve_modules(&k, &["nft_*"]).unwrap();
        let names: Vec<&str> = mods.iter().map(|m| m.name.as_str()).collect();
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(!names.contains(&"unrelated"));
        assert!(pos("nfnetlink") < pos("nf_tables"));
        assert!(pos("nf_tables") < pos("nft_masq"));
        assert!(pos("nf_conntrack") < pos("nf_nat"));
        assert!(pos("nf_nat") < pos("nft_masq"));
        assert!(pos("nf_tables") < pos("nft_ct"));
        let dep = modules_dep(&mods);
        assert!(
            dep.contains("kernel/net/nft_masq.ko: kernel/net/nf_tables.ko kernel/net/nf_nat.ko kernel/net/nfnetlink.ko kernel/net/nf_conntrack.ko\n"),
            "{dep}"
        );
        assert_eq!(modules_alias(&mods), "alias nft-expr-masq nft_masq\n");
        // A typo is an error; a built-in module is fine.
        assert!(resolve_modules(&k, &["nf_tablez"]).is_err());
        assert!(resolve_modules(&k, &["libcrc32c"]).unwrap().is_empty());
    }

    #[test]
    fn payload_is_found_through_the_setup_header() {
        let mut img = vec![0u8; 4096];
        img[0x1f1] = 3; // setup sectors
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        img[0x248..0x24c].copy_from_slice(&100u32.to_le_bytes());
        img[0x24c..0x250].copy_from_slice(&6u32.to_le_bytes());
        let start = 4 * 512 + 100;
        img[start..start + 6].copy_from_slice(b"\xfd7zXZ\0");
        assert_eq!(bzimage_payload(&img).unwrap(), b"\xfd7zXZ\0");
        img[0x206..0x208].copy_from_slice(&0x207u16.to_le_bytes());
        assert!(bzimage_payload(&img).is_err());
        assert!(bzimage_payload(&img[..0x100]).is_err());
    }
}
