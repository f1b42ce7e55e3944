//! The fixture images, built from Debian's `/bin/busybox` (busybox-static) and pushed to a
//! registry with the registry crate's own push.
//!
//! | name | top-level type | content |
//! |---|---|---|
//! | `busybox:latest` | Docker v2 schema 2 | one gzip layer: the busybox rootfs |
//! | `multilayer:latest` | OCI manifest | 3 gzip layers adding, overwriting and deleting files (whiteouts, an opaque directory, a type change), see [`multilayer_expectations`] |
//! | `multiarch:latest` | OCI index | `linux/amd64` and `linux/arm64/v8` entries (same content, different configs) |
//! | `multiarch-docker:latest` | Docker manifest list | the same with Docker media types |
//! | `zstd:latest` | OCI manifest | one `tar+zstd` layer: the busybox rootfs |
//! | `uncompressed:latest` | OCI manifest | one plain `tar` layer: the busybox rootfs |
//!
//! Every image has `Cmd ["sh"]` and `Env PATH=...`. The rootfs has `/bin/busybox` with its
//! applets as symlinks to it, `/etc/passwd` and `/etc/group` with `root`, `user` (1000) and
//! `nobody` (65534), `/tmp` with mode 1777 and `/home/user` owned by 1000. Contents and
//! timestamps are fixed, so digests are the same on every run on the same busybox.

use std::process::Command;
use std::sync::OnceLock;

use registry::{Compression, Digest, Platform, Reference, media_types};

use crate::error::{Error, IoContext};
use crate::image::{Flavour, Image, ImageBuilder, IndexBuilder, Layer, LayerBuilder, Meta};
use crate::server::Registry;

/// Where the busybox binary comes from (`MYDOCKER_BUSYBOX` overrides it).
pub const BUSYBOX: &str = "/bin/busybox";

/// `/etc/passwd` of the fixtures.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
user:x:1000:1000:Normal User:/home/user:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

/// `/etc/group` of the fixtures.
pub const GROUP: &str = "root:x:0:\nuser:x:1000:\nnobody:x:65534:\n";

/// A pushed fixture.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// Short name, e.g. `busybox`.
    pub name: &'static str,
    /// Where it was pushed, e.g. `127.0.0.1:PORT/busybox:latest`.
    pub reference: Reference,
    /// The digest of what the tag points at (docker's `Digest:`).
    pub digest: Digest,
    /// The media type of what the tag points at.
    pub media_type: &'static str,
    /// The image manifests: one, or one per index entry in entry order.
    pub images: Vec<Image>,
}

impl Fixture {
    /// The (first) image.
    pub fn image(&self) -> &Image {
        // Every fixture has at least one image (constructed below).
        &self.images[0]
    }

    /// The image of the index entry for `platform`, or the single image if it matches.
    pub fn image_for(&self, platform: &Platform) -> Option<&Image> {
        self.images.iter().find(|i| platform.matches(&i.platform))
    }

    /// Whether the tag points at an index.
    pub fn is_index(&self) -> bool {
        self.media_type == media_types::OCI_INDEX
            || self.media_type == media_types::DOCKER_MANIFEST_LIST
    }
}

/// All fixtures pushed to one registry.
#[derive(Clone, Debug)]
pub struct Fixtures {
    /// `busybox:latest`
    pub busybox: Fixture,
    /// `multilayer:latest`
    pub multilayer: Fixture,
    /// `multiarch:latest`
    pub multiarch: Fixture,
    /// `multiarch-docker:latest`
    pub multiarch_docker: Fixture,
    /// `zstd:latest`
    pub zstd: Fixture,
    /// `uncompressed:latest`
    pub uncompressed: Fixture,
}

impl Fixtures {
    /// The fixtures of [`Registry::shared`].
    ///
    /// # Panics
    /// As [`Registry::shared`].
    pub fn shared() -> &'static Fixtures {
        &Registry::shared_pair().1
    }

    /// Every fixture.
    pub fn all(&self) -> [&Fixture; 6] {
        [
            &self.busybox,
            &self.multilayer,
            &self.multiarch,
            &self.multiarch_docker,
            &self.zstd,
            &self.uncompressed,
        ]
    }

    /// Builds every fixture and pushes it to `registry`.
    ///
    /// # Errors
    /// [`Error::Setup`] when busybox is missing, [`Error::Registry`] when a push fails.
    pub fn push(registry: &Registry) -> Result<Self, Error> {
        let client = registry.client()?;
        let single = |name: &'static str, image: Image| -> Result<Fixture, Error> {
            let reference = registry.reference(&format!("{name}:latest"))?;
            let digest = image.push(&client, &reference)?;
            Ok(Fixture {
                name,
                reference,
                digest,
                media_type: image.manifest_media_type(),
                images: vec![image],
            })
        };
        let multi = |name: &'static str, flavour: Flavour| -> Result<Fixture, Error> {
            let reference = registry.reference(&format!("{name}:latest"))?;
            let index = multiarch_index(flavour)?;
            let digest = index.push(&client, &reference)?;
            Ok(Fixture {
                name,
                reference,
                digest,
                media_type: index.media_type(),
                images: index.images,
            })
        };
        Ok(Self {
            busybox: single(
                "busybox",
                busybox_image(Flavour::Docker, Compression::Gzip)?,
            )?,
            multilayer: single("multilayer", multilayer_image()?)?,
            multiarch: multi("multiarch", Flavour::Oci)?,
            multiarch_docker: multi("multiarch-docker", Flavour::Docker)?,
            zstd: single("zstd", busybox_image(Flavour::Oci, Compression::Zstd)?)?,
            uncompressed: single(
                "uncompressed",
                busybox_image(Flavour::Oci, Compression::None)?,
            )?,
        })
    }
}

/// The busybox applets as `busybox --list-full` gives them (`bin/sh`, `usr/bin/awk`, ...).
fn applets(busybox: &str) -> Result<Vec<String>, Error> {
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .context(|| format!("running {busybox} --list-full (install busybox-static)"))?;
    if !out.status.success() {
        return Err(Error::Setup(format!("{busybox} --list-full failed")));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_owned())
        .filter(|l| !l.is_empty() && l != "bin/busybox")
        .collect())
}

/// Adds the busybox rootfs to `layer`.
///
/// # Errors
/// [`Error::Setup`] / [`Error::Io`] when busybox cannot be read or listed.
pub fn add_busybox_rootfs(layer: &mut LayerBuilder) -> Result<(), Error> {
    let busybox = std::env::var("MYDOCKER_BUSYBOX").unwrap_or_else(|_| BUSYBOX.to_owned());
    let binary = std::fs::read(&busybox)
        .context(|| format!("reading {busybox} (install busybox-static: cargo xtask deps)"))?;
    let applets = applets(&busybox)?;
    let mut dirs: Vec<String> = vec![
        "bin", "dev", "etc", "home", "proc", "sys", "usr", "usr/bin", "usr/sbin", "sbin", "var",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for a in &applets {
        let mut parent = a.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            if !dirs.iter().any(|d| d == p) {
                dirs.push(p.to_owned());
            }
            parent = p;
        }
    }
    dirs.sort();
    for d in &dirs {
        layer.dir(d, Meta::mode(0o755));
    }
    layer
        .dir("root", Meta::mode(0o700))
        .dir("tmp", Meta::mode(0o1777))
        .dir("home/user", Meta::mode(0o755).owner(1000, 1000))
        .file("bin/busybox", &binary, Meta::mode(0o755))
        .file("etc/passwd", PASSWD.as_bytes(), Meta::mode(0o644))
        .file("etc/group", GROUP.as_bytes(), Meta::mode(0o644));
    for a in &applets {
        layer.symlink(a, "/bin/busybox", Meta::mode(0o777));
    }
    Ok(())
}

/// The busybox rootfs as an uncompressed tar (built once per process).
///
/// # Errors
/// As [`add_busybox_rootfs`].
pub fn busybox_tar() -> Result<&'static [u8], Error> {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(t) = TAR.get() {
        return Ok(t);
    }
    let mut layer = LayerBuilder::new();
    add_busybox_rootfs(&mut layer)?;
    let tar = layer.finish()?;
    Ok(TAR.get_or_init(|| tar))
}

/// A one-layer busybox image with `Cmd ["sh"]`.
///
/// # Errors
/// As [`busybox_tar`] and [`Layer::new`].
pub fn busybox_image(flavour: Flavour, compression: Compression) -> Result<Image, Error> {
    let layer = Layer::new(busybox_tar()?, compression, flavour)?;
    ImageBuilder::new(flavour).layer(layer).cmd(&["sh"]).build()
}

fn multiarch_index(flavour: Flavour) -> Result<crate::image::Index, Error> {
    let layer = Layer::new(busybox_tar()?, Compression::Gzip, flavour)?;
    let amd64 = ImageBuilder::new(flavour)
        .platform(Platform::new("linux", "amd64", None))
        .layer(layer.clone())
        .cmd(&["sh"])
        .build()?;
    let arm64 = ImageBuilder::new(flavour)
        .platform(Platform::new("linux", "arm64", Some("v8")))
        .layer(layer)
        .cmd(&["sh"])
        .build()?;
    IndexBuilder::new(flavour).image(amd64).image(arm64).build()
}

/// What a path of the unpacked `multilayer` image must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A regular file with these contents.
    File(&'static str),
    /// A directory.
    Dir,
    /// A symlink with this target.
    Symlink(&'static str),
    /// Nothing.
    Absent,
}

/// The state of notable paths after applying all layers of `multilayer` in order.
pub fn multilayer_expectations() -> Vec<(&'static str, Expect)> {
    vec![
        ("etc/motd", Expect::File("layer 3\n")),
        ("data/keep", Expect::File("keep\n")),
        ("data/hard", Expect::File("keep\n")),
        ("data/link", Expect::Symlink("keep")),
        ("data/gone", Expect::Absent),
        ("data/opaque", Expect::Dir),
        ("data/opaque/old", Expect::Absent),
        ("data/opaque/sub", Expect::Absent),
        ("data/opaque/new", Expect::File("new\n")),
        ("data/typechange", Expect::File("now a file\n")),
        ("data/added3", Expect::File("3\n")),
        ("data/owned", Expect::File("owned by user\n")),
        (
            "data/exec",
            Expect::File("#!/bin/sh\necho hello from layer 2\n"),
        ),
        ("bin/sh", Expect::Symlink("/bin/busybox")),
    ]
}

/// The three-layer image: busybox, then additions, then overwrites and deletions.
///
/// # Errors
/// As [`busybox_tar`] and [`Layer::new`].
pub fn multilayer_image() -> Result<Image, Error> {
    let f = Meta::mode(0o644);
    let d = Meta::mode(0o755);
    let mut l2 = LayerBuilder::new();
    l2.file("etc/motd", b"layer 2\n", f)
        .dir("data", d)
        .file("data/keep", b"keep\n", f)
        .hardlink("data/hard", "data/keep")
        .symlink("data/link", "keep", Meta::mode(0o777))
        .file("data/gone", b"to be deleted\n", f)
        .dir("data/opaque", d)
        .file("data/opaque/old", b"old\n", f)
        .dir("data/opaque/sub", d)
        .file("data/opaque/sub/deep", b"deep\n", f)
        .dir("data/typechange", d)
        .file("data/typechange/child", b"child\n", f)
        .file(
            "data/owned",
            b"owned by user\n",
            Meta::mode(0o640).owner(1000, 1000),
        )
        .file(
            "data/exec",
            b"#!/bin/sh\necho hello from layer 2\n",
            Meta::mode(0o755),
        );
    let mut l3 = LayerBuilder::new();
    l3.file("etc/motd", b"layer 3\n", f)
        .whiteout("data/gone")
        .dir("data/opaque", d)
        .opaque("data/opaque")
        .file("data/opaque/new", b"new\n", f)
        .file("data/typechange", b"now a file\n", f)
        .file("data/added3", b"3\n", f);
    let layers = [busybox_tar()?.to_vec(), l2.finish()?, l3.finish()?];
    let mut b = ImageBuilder::new(Flavour::Oci).cmd(&["sh"]);
    for tar in &layers {
        b = b.layer(Layer::new(tar, Compression::Gzip, Flavour::Oci)?);
    }
    b.build()
}
