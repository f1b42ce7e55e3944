//! The guest's base initramfs: busybox, dash and bash, coreutils' timeout, util-linux's
//! nsenter and unshare, iproute2, nftables, docker-registry, skopeo, umoci and htpasswd from
//! the host with their shared libraries, the kernel modules with their dependencies, a few
//! /etc files and the init script.
//!
//! The image is described first as an in-memory [`Tree`] (cheap: only `stat` calls), hashed,
//! and written as a cpio archive only when the hash differs from the cached one.

use super::cpio::{CpioWriter, DevNum};
use super::kernel::{self, Kernel};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufWriter, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump when the image layout changes in a way the tree hash would not see.
const FORMAT: &str = "vmtest-initramfs-1";

/// Big host programs the guest gets through the `vmtest_tools` 9p share (a copy in
/// `target/vm/tools/`) rather than in the initramfs: the kernel unpacks every byte of the
/// initramfs at each boot, slowly under TCG, while a share is read on demand. Their shared
/// libraries are in the image; the image has symlinks at their host paths.
pub(crate) const SHARED_TOOLS: &[&str] = &["docker-registry", "skopeo", "umoci"];

/// Where the guest mounts the tools share.
pub(crate) const TOOLS_MOUNT: &str = "/vmtest/tools";

/// Host programs the guest gets, found on the host's PATH. Busybox's applets run other
/// applets in preference to programs on PATH (`timeout 5 nsenter … ip` would run busybox's
/// `ip`), so the wrappers the tests run commands through are the host's own (coreutils,
/// util-linux), as on the host.
pub(crate) const TOOLS: &[&str] = &[
    "busybox",
    "dash",
    "bash",
    "timeout",
    "nsenter",
    "unshare",
    "ip",
    "nft",
    "docker-registry",
    "skopeo",
    "umoci",
    "htpasswd",
    "ldd",
];

const HOST_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The guest's init (PID 1), a dash script.
pub(crate) const INIT: &str = include_str!("init.sh");

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir(u32),
    /// A host file copied as it is when the archive is written.
    HostFile {
        src: PathBuf,
        mode: u32,
        len: u64,
        mtime: i64,
    },
    Data {
        bytes: Vec<u8>,
        mode: u32,
    },
    Symlink(String),
    CharDev(u32, DevNum),
}

/// A file tree to be written as an initramfs; paths are relative, without a leading `/`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    /// `path` with every symlinked directory of the tree followed (`bin/x` -> `usr/bin/x`
    /// when `bin` links to `usr/bin`), so a file lands where the guest will look for it.
    pub(crate) fn resolve(&self, path: &str) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .rev()
            .map(str::to_owned)
            .collect();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                parts.pop();
                continue;
            }
            parts.push(c);
            // The last component is the entry itself: not followed.
            if todo.is_empty() {
                break;
            }
            if let Some(Node::Symlink(target)) = self.nodes.get(&parts.join("/")) {
                hops += 1;
                if hops > 40 {
                    break;
                }
                parts.pop();
                if target.starts_with('/') {
                    parts.clear();
                }
                todo.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .rev()
                        .map(str::to_owned),
                );
            }
        }
        parts.join("/")
    }

    pub(crate) fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(&self.resolve(path))
    }

    #[cfg(test)]
    pub(crate) fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&self.resolve(path))
    }

    /// Adds `node` at `path` (resolved), creating missing parent directories.
    pub(crate) fn add(&mut self, path: &str, node: Node) -> String {
        let path = self.resolve(path);
        let mut parent = String::new();
        for c in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |x| x.1)
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(c);
            self.nodes.entry(parent.clone()).or_insert(Node::Dir(0o755));
        }
        self.nodes.insert(path.clone(), node);
        path
    }

    pub(crate) fn data(&mut self, path: &str, mode: u32, bytes: impl Into<Vec<u8>>) {
        self.add(
            path,
            Node::Data {
                bytes: bytes.into(),
                mode,
            },
        );
    }

    /// Adds the host file `host` at the same path (its content, following symlinks).
    pub(crate) fn host_file(&mut self, host: &Path) -> Result<String> {
        let meta = fs::metadata(host).with_context(|| format!("stat {}", host.display()))?;
        if !meta.is_file() {
            bail!("{} is not a regular file", host.display());
        }
        let path = host.to_string_lossy().into_owned();
        Ok(self.add(
            &path,
            Node::HostFile {
                src: host.to_owned(),
                mode: meta.permissions().mode() & 0o7777,
                len: meta.len(),
                mtime: meta.mtime(),
            },
        ))
    }

    /// Adds a host program and every shared library `ldd` says it loads.
    pub(crate) fn host_program(&mut self, host: &Path) -> Result<String> {
        let at = self.host_file(host)?;
        for lib in shared_libs(host)? {
            if !self.contains(&lib.to_string_lossy()) {
                self.host_file(&lib)?;
            }
        }
        Ok(at)
    }

    /// A stable hash of everything that ends up in the archive.
    pub(crate) fn key(&self) -> String {
        let mut h = super::Fnv::new();
        h.put(FORMAT.as_bytes());
        for (path, node) in &self.nodes {
            h.put(path.as_bytes());
            h.put(format!("{node:?}").as_bytes());
            if let Node::Data { bytes, .. } = node {
                h.put(bytes);
            }
        }
        format!("{:016x}", h.finish())
    }

    pub(crate) fn write_cpio(&self, dest: &Path) -> Result<()> {
        let tmp = dest.with_extension("tmp");
        let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = CpioWriter::new(BufWriter::with_capacity(1 << 20, file));
        for (path, node) in &self.nodes {
            match node {
                Node::Dir(mode) => w.dir(path, *mode)?,
                Node::Symlink(target) => w.symlink(path, target)?,
                Node::CharDev(mode, dev) => w.char_dev(path, *mode, *dev)?,
                Node::Data { bytes, mode } => {
                    w.file(path, *mode, bytes.len() as u64, &mut bytes.as_slice())?
                }
                Node::HostFile { src, mode, len, .. } => {
                    let mut f = fs::File::open(src)
                        .with_context(|| format!("opening {}", src.display()))?;
                    w.file(path, *mode, *len, &mut f)
                        .with_context(|| format!("archiving {}", src.display()))?;
                    // The file must not have grown either: the key would be stale.
                    if f.read(&mut [0u8; 1])? != 0 {
                        bail!("{} changed while being archived", src.display());
                    }
                }
            }
        }
        w.finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        fs::rename(&tmp, dest)?;
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// Finds a program on the host's standard PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    HOST_PATH
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The shared libraries (and the dynamic loader) `ldd` lists for `program`.
pub(crate) fn shared_libs(program: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if text.contains("not a dynamic executable") || err.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        bail!("ldd {} failed: {}", program.display(), err.trim());
    }
    parse_ldd(&text).with_context(|| format!("ldd {}", program.display()))
}

pub(crate) fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("statically linked") {
            continue;
        }
        if let Some((name, rest)) = line.split_once("=>") {
            let rest = rest.trim();
            if rest.starts_with("not found") {
                bail!("library {} not found", name.trim());
            }
            if let Some(path) = rest
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/'))
            {
                libs.push(PathBuf::from(path));
            }
        } else if let Some(path) = line
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            libs.push(PathBuf::from(path)); // the dynamic loader
        }
    }
    Ok(libs)
}

/// The cached base image and what it holds.
#[derive(Debug)]
pub(crate) struct BaseImage {
    pub(crate) cpio: PathBuf,
    pub(crate) built: bool,
    pub(crate) files: usize,
}

/// Describes the base image; writes it unless the cached one has the same key.
/// `extra_programs` (the test binaries) contribute only their shared libraries.
pub(crate) fn prepare(
    cache: &Path,
    kernel: &Kernel,
    extra_programs: &[PathBuf],
) -> Result<BaseImage> {
    let (tree, shared) = describe(kernel, extra_programs)?;
    copy_shared_tools(&cache.join("tools"), &shared)?;
    let key = tree.key();
    let cpio = cache.join("base.cpio");
    let key_file = cache.join("base.key");
    if cpio.is_file() && fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str()) {
        return Ok(BaseImage {
            cpio,
            built: false,
            files: tree.len(),
        });
    }
    let _ = fs::remove_file(&key_file);
    tree.write_cpio(&cpio)?;
    fs::write(&key_file, &key)?;
    Ok(BaseImage {
        cpio,
        built: true,
        files: tree.len(),
    })
}

/// The image's tree, and the (host path, name) of the tools to serve over the tools share.
fn describe(kernel: &Kernel, extra_programs: &[PathBuf]) -> Result<(Tree, Vec<(PathBuf, String)>)> {
    let mut t = Tree::default();
    // Merged /usr like the host, so absolute paths baked into programs keep working.
    for link in ["bin", "sbin", "lib", "lib64"] {
        let host = Path::new("/").join(link);
        match fs::read_link(&host) {
            Ok(target) => {
                let target = target.to_string_lossy().trim_start_matches('/').to_owned();
                t.add(&target, Node::Dir(0o755));
                t.add(link, Node::Symlink(target));
            }
            Err(_) => {
                t.add(link, Node::Dir(0o755));
            }
        }
    }
    for dir in [
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "root",
        "newroot",
        "scratch",
        "vmtest/out",
        "var/lib",
        "var/tmp",
        "mnt",
        "home",
        "etc",
    ] {
        t.add(
            dir,
            Node::Dir(if dir == "tmp" || dir == "var/tmp" {
                0o1777
            } else {
                0o755
            }),
        );
    }
    // Stage 1 runs before devtmpfs is mounted: the kernel opens /dev/console for init.
    t.add(
        "dev/console",
        Node::CharDev(0o600, DevNum { major: 5, minor: 1 }),
    );
    t.add(
        "dev/null",
        Node::CharDev(0o666, DevNum { major: 1, minor: 3 }),
    );

    let mut real = BTreeSet::new();
    let mut busybox = None;
    let mut shared = Vec::new();
    for tool in TOOLS {
        let path = which(tool).with_context(|| {
            format!("the VM image needs `{tool}` from the host; run `cargo xtask deps`")
        })?;
        real.insert((*tool).to_owned());
        if SHARED_TOOLS.contains(tool) {
            for lib in shared_libs(&path)? {
                if !t.contains(&lib.to_string_lossy()) {
                    t.host_file(&lib)?;
                }
            }
            let meta = fs::metadata(&path)?;
            t.add(
                &path.to_string_lossy(),
                Node::Symlink(format!("{TOOLS_MOUNT}/{tool}")),
            );
            shared.push((path, (*tool).to_owned(), meta.len(), meta.mtime()));
            continue;
        }
        let at = t.host_program(&path)?;
        if *tool == "busybox" {
            busybox = Some((path, at));
        }
    }
    let (bb_host, bb_at) = busybox.context("busybox missing")?;
    t.add("usr/bin/sh", Node::Symlink("dash".into()));
    real.insert("sh".into());
    let list = Command::new(&bb_host)
        .arg("--list-full")
        .output()
        .context("busybox --list-full")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let name = applet.rsplit('/').next().unwrap_or(applet);
        if name.is_empty() || real.contains(name) || t.contains(applet) {
            continue;
        }
        t.add(applet, Node::Symlink(format!("/{bb_at}")));
    }
    for program in extra_programs {
        for lib in shared_libs(program)? {
            if !t.contains(&lib.to_string_lossy()) {
                t.host_file(&lib)?;
            }
        }
    }

    etc_files(&mut t)?;

    let mods = kernel::resolve_modules(kernel, kernel::MODULES)?;
    let mdir = kernel.modules_dir();
    let gdir = format!("lib/modules/{}", kernel.release);
    for m in &mods {
        let src = mdir.join(&m.rel);
        let meta = fs::metadata(&src)?;
        t.add(
            &format!("{gdir}/{}", m.rel),
            Node::HostFile {
                src,
                mode: 0o644,
                len: meta.len(),
                mtime: meta.mtime(),
            },
        );
    }
    t.data(
        &format!("{gdir}/modules.dep"),
        0o644,
        kernel::modules_dep(&mods),
    );
    t.data(
        &format!("{gdir}/modules.alias"),
        0o644,
        kernel::modules_alias(&mods),
    );
    if let Ok(builtin) = fs::read(mdir.join("modules.builtin")) {
        t.data(&format!("{gdir}/modules.builtin"), 0o644, builtin);
    }
    let boot = kernel::resolve_modules(kernel, kernel::BOOT_MODULES)?;
    if let Some(m) = boot.iter().find(|b| !mods.contains(b)) {
        bail!("boot module {} is not in kernel::MODULES", m.name);
    }
    let order: String = boot.iter().map(|m| format!("{}\n", m.rel)).collect();
    t.data("etc/vmtest/modules", 0o644, order);
    t.data("init", 0o755, INIT);
    // The shared tools' identity, so the key changes with them.
    let list: String = shared
        .iter()
        .map(|(p, name, len, mtime)| format!("{name} {} {len} {mtime}\n", p.display()))
        .collect();
    t.data("etc/vmtest/shared-tools", 0o644, list);
    Ok((
        t,
        shared.into_iter().map(|(p, name, ..)| (p, name)).collect(),
    ))
}

/// Copies the shared tools into `dir` (the tools share) where missing or different.
fn copy_shared_tools(dir: &Path, tools: &[(PathBuf, String)]) -> Result<()> {
    fs::create_dir_all(dir)?;
    for (host, name) in tools {
        let dest = dir.join(name);
        let src_meta = fs::metadata(host)?;
        let same = fs::metadata(&dest)
            .is_ok_and(|d| d.len() == src_meta.len() && d.mtime() >= src_meta.mtime());
        if !same {
            let tmp = dir.join(format!(".{name}.tmp"));
            fs::copy(host, &tmp).with_context(|| format!("copying {}", host.display()))?;
            fs::rename(&tmp, &dest)?;
        }
    }
    Ok(())
}

fn etc_files(t: &mut Tree) -> Result<()> {
    t.data(
        "etc/passwd",
        0o644,
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    );
    t.data("etc/group", 0o644, "root:x:0:\nnogroup:x:65534:\n");
    t.data(
        "etc/hosts",
        0o644,
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    t.data("etc/hostname", 0o644, "vmtest\n");
    t.data(
        "etc/nsswitch.conf",
        0o644,
        "passwd: files\ngroup: files\nhosts: files dns\n",
    );
    // The guest has no network card: nothing can be resolved, but programs expect the file.
    t.data("etc/resolv.conf", 0o644, "nameserver 127.0.0.1\n");
    t.add("etc/mtab", Node::Symlink("/proc/self/mounts".into()));
    for (host, fallback) in [
        ("/etc/os-release", None),
        (
            "/etc/containers/policy.json",
            Some("{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}\n"),
        ),
        ("/etc/docker/registry/config.yml", None),
    ] {
        let p = Path::new(host);
        if p.exists() {
            let bytes = fs::read(p).with_context(|| format!("reading {host}"))?;
            t.data(host, 0o644, bytes);
        } else if let Some(text) = fallback {
            t.data(host, 0o644, text);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_script_parses() {
        // A syntax error would only show as a kernel panic ("Attempted to kill init") at boot.
        let mut child = Command::new("dash")
            .arg("-n")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), INIT.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(INIT.contains("VMTEST-EXIT") && INIT.contains("poweroff -f"));
    }

    #[test]
    fn resolve_follows_directory_symlinks() {
        let mut t = Tree::default();
        t.add("usr/lib64", Node::Dir(0o755));
        t.add("lib64", Node::Symlink("usr/lib64".into()));
        t.add("lib", Node::Symlink("/usr/lib".into()));
        t.add("usr/lib/x86_64-linux-gnu", Node::Dir(0o755));
        t.add("usr/lib/x86_64-linux-gnu/up", Node::Symlink("..".into()));
        assert_eq!(
            t.resolve("/lib64/ld-linux-x86-64.so.2"),
            "usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(
            t.resolve("lib/x86_64-linux-gnu/libc.so.6"),
            "usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(t.resolve("lib/x86_64-linux-gnu/up/x"), "usr/lib/x"); // relative link
        // The final component is the entry itself, never followed.
        assert_eq!(t.resolve("lib64"), "lib64");
        assert_eq!(t.resolve("/etc/./a/../b"), "etc/b");
        let at = t.add(
            "/lib/x86_64-linux-gnu/libz.so.1",
            Node::Data {
                bytes: vec![],
                mode: 0o644,
            },
        );
        assert_eq!(at, "usr/lib/x86_64-linux-gnu/libz.so.1");
        assert!(t.contains("/usr/lib/x86_64-linux-gnu/libz.so.1"));
    }

    #[test]
    fn symlink_loops_terminate() {
        let mut t = Tree::default();
        t.add("a", Node::Symlink("b".into()));
        t.add("b", Node::Symlink("a".into()));
        let _ = t.resolve("a/x"); // must return, whatever it says
    }

    #[test]
    fn parents_are_created_and_key_tracks_content() {
        let mut t = Tree::default();
        t.data("etc/vmtest/modules", 0o644, "a.ko\n");
        assert_eq!(t.get("etc"), Some(&Node::Dir(0o755)));
        assert_eq!(t.get("etc/vmtest"), Some(&Node::Dir(0o755)));
        let k1 = t.key();
        assert_eq!(k1, t.clone().key());
        t.data("etc/vmtest/modules", 0o644, "b.ko\n");
        assert_ne!(k1, t.key());
    }

    #[test]
    fn ldd_output_is_parsed() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
    }

    #[test]
    fn host_program_brings_its_libraries() {
        // dash is Essential in Debian: always there, dynamically linked against libc.
        let dash = which("dash").unwrap();
        let mut t = Tree::default();
        t.host_program(&dash).unwrap();
        let libc = shared_libs(&dash)
            .unwrap()
            .into_iter()
            .find(|l| l.to_string_lossy().contains("libc.so"))
            .unwrap();
        assert!(t.contains(&libc.to_string_lossy()));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.cpio");
        t.write_cpio(&out).unwrap();
        let listing = Command::new("busybox")
            .args(["cpio", "-t"])
            .stdin(fs::File::open(&out).unwrap())
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap();
        let names = String::from_utf8_lossy(&listing.stdout);
        assert!(
            names
                .lines()
                .any(|l| l == dash.to_string_lossy().trim_start_matches('/')),
            "{names}"
        );
    }
}
