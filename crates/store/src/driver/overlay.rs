//! The `overlay` driver: each layer is an overlayfs lower directory.
//!
//! ```text
//! ROOT/layers/overlay/<chain hex>/diff/      the layer's files (whiteouts: 0/0 char devices,
//!                                            opaque dirs: trusted.overlay.opaque=y)
//! ROOT/layers/overlay/<chain hex>/link       the layer's short name
//! ROOT/layers/overlay/<chain hex>/lower      "l/<short>:l/<short>..." of the parents, top first
//! ROOT/layers/overlay/l/<short> -> ../<chain hex>/diff
//! ROOT/layers/overlay/rw/<id>/{upper,work}   container <id>'s writable layer
//! ROOT/layers/overlay/rw/<id>/empty          the lower directory of an empty image
//! ROOT/layers/overlay/rw/<id>/merged         the host mount point
//! ```
//!
//! [`mounts`](StorageDriver::mounts) names the lower layers by their short links
//! (`ROOT/layers/overlay/l/<short>`), as Docker's overlay2 does: a performer that mounts
//! from `ROOT/layers/overlay/l` with the bare short names keeps the option string under a
//! page even for 120+ layers ([`mount_all`](super::mount_all) does so when needed).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fsutil::{remove_tree, temp_name, write_atomic_in};
use oci_spec::image::Digest;
use oci_spec::runtime::Mount;

use super::hostmount::{
    escape_overlay_path, is_mounted, kernel_at_least, kernel_has_fs, mount_all, unmount_path,
};
use super::{
    Base, DriverPaths, LayerInfo, Staged, StagedState, StorageDriver, changes, rootfs_mount,
};
use crate::digest::sha256_hex;
use crate::error::{IoContext, Result};
use crate::files::ensure_dir;
use crate::unpack::Whiteouts;

/// The file in the driver's layer directory that records a successful support probe.
const PROBED_OK: &str = "probed-ok";

/// The overlayfs driver.
#[derive(Debug)]
pub struct OverlayDriver {
    base: Base,
    support: OnceLock<std::result::Result<(), String>>,
}

impl OverlayDriver {
    fn create_rw(&self, id: &str, image_top: Option<&Digest>, disposable: bool) -> Result<()> {
        self.base
            .create_writable(id, image_top, disposable, |staging| {
                // `empty` stands in for the lower layers of a container on no image layer
                // (an image `FROM scratch` with nothing in it). The host mount point,
                // `merged`, is made by `mount` when it is needed: a container's init mounts
                // its rootfs in its own namespace. Every inode counts here: on ext4 without
                // a journal, each new one skips every inode freed in the last minutes.
                let empty = image_top.is_none().then_some("empty");
                for d in ["upper", "work"].into_iter().chain(empty) {
                    fs::create_dir(staging.join(d)).ctx("create dir", staging.join(d))?;
                }
                Ok(())
            })
    }

    /// The driver working in `paths` (no support check).
    pub fn new(paths: DriverPaths) -> Result<Self> {
        let base = Base::new(paths, "overlay")?;
        ensure_dir(&base.layers.join("l"))?;
        Ok(OverlayDriver {
            base,
            support: OnceLock::new(),
        })
    }

    fn short_name(chain: &Digest) -> Result<String> {
        Ok(sha256_hex(chain)?[..20].to_ascii_uppercase())
    }

    /// The `lowerdir=` value for a container on `top`, as recorded in the layers: relative
    /// `l/<short>` names, top first, as used from `ROOT/layers/overlay`.
    pub fn lowerdir(&self, top: &Digest) -> Result<String> {
        let dir = self.base.layer_dir(top)?;
        let link = fs::read_to_string(dir.join("link")).ctx("read", dir.join("link"))?;
        let lower = fs::read_to_string(dir.join("lower")).ctx("read", dir.join("lower"))?;
        let mut s = format!("l/{}", link.trim());
        if !lower.trim().is_empty() {
            s.push(':');
            s.push_str(lower.trim());
        }
        Ok(s)
    }

    /// The lower directories of a container on `top`, top first: absolute paths of their
    /// short links.
    fn lower_dirs(&self, top: &Digest) -> Result<Vec<PathBuf>> {
        Ok(self
            .lowerdir(top)?
            .split(':')
            .map(|rel| self.base.layers.join(rel))
            .collect())
    }

    /// The options of container `id`'s overlay mount (see [`StorageDriver::mounts`]).
    fn mount_options(&self, id: &str) -> Result<Vec<String>> {
        let meta = self.base.writable_meta(id)?;
        let rw = self.base.rw_dir(id)?;
        let lower = match &meta.parent {
            Some(top) => self.lower_dirs(top)?,
            None => vec![rw.join("empty")],
        };
        let lower: Vec<String> = lower.iter().map(|l| escape_overlay_path(l)).collect();
        let mut options = vec![
            format!("lowerdir={}", lower.join(":")),
            format!("upperdir={}", escape_overlay_path(&rw.join("upper"))),
            format!("workdir={}", escape_overlay_path(&rw.join("work"))),
        ];
        // The change export reads the upper directory as plain files and whiteouts:
        // features that store renames or metadata-only copy-ups in xattrs must be off
        // whatever the kernel's defaults are.
        for opt in ["redirect_dir", "index", "metacopy"] {
            if Path::new("/sys/module/overlay/parameters")
                .join(opt)
                .exists()
            {
                options.push(format!("{opt}=off"));
            }
        }
        // `volatile` came with Linux 5.10.
        if self.base.is_disposable(id, &meta)? && kernel_at_least(5, 10) {
            options.push("volatile".to_owned());
        }
        Ok(options)
    }

    /// [`Self::probe`], whose success is remembered for the rest of this boot in
    /// `layers/overlay/probed-ok` (the kernel's boot ID). Every command that picks a driver
    /// asks; the test mount costs an overlay unmount, which syncs the upper filesystem
    /// (tens of milliseconds on a busy disk), so without the record every `run` would pay
    /// it. A reboot, maybe into another kernel, probes again; a failure is never recorded.
    fn probe_once_per_boot(&self) -> std::result::Result<(), String> {
        let marker = self.base.layers.join(PROBED_OK);
        let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if let Some(id) = &boot_id
            && fs::read_to_string(&marker).is_ok_and(|m| m.trim() == id)
            && rustix::process::geteuid().is_root()
        {
            return Ok(());
        }
        self.probe()?;
        if let Some(id) = boot_id {
            // Only a cache: a failure to write it costs the next command a probe.
            let _ = write_atomic_in(&self.base.tmp, &marker, format!("{id}\n").as_bytes());
        }
        Ok(())
    }

    fn probe(&self) -> std::result::Result<(), String> {
        if !rustix::process::geteuid().is_root() {
            return Err("overlay mounts need root".into());
        }
        let dir = self.base.tmp.join(temp_name("probe"));
        let result = (|| -> std::result::Result<(), String> {
            for d in ["l1", "l2", "upper", "work", "merged"] {
                fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
            }
            let data = format!(
                "lowerdir={0}/l2:{0}/l1,upperdir={0}/upper,workdir={0}/work",
                escape_overlay_path(&dir)
            );
            let target = dir.join("merged");
            let data = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
            rustix::mount::mount(
                "overlay",
                &target,
                "overlay",
                rustix::mount::MountFlags::empty(),
                data.as_c_str(),
            )
            .map_err(|e| {
                if kernel_has_fs("overlay") {
                    format!(
                        "test mount of overlay in {} failed: {e}",
                        self.base.tmp.display()
                    )
                } else {
                    format!("kernel has no overlay filesystem ({e})")
                }
            })?;
            unmount_path(&target).map_err(|e| e.to_string())
        })();
        let _ = remove_tree(&dir);
        result
    }
}

impl StorageDriver for OverlayDriver {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn supported(&self) -> std::result::Result<(), String> {
        self.support
            .get_or_init(|| self.probe_once_per_boot())
            .clone()
    }

    fn has_layer(&self, chain_id: &Digest) -> Result<bool> {
        self.base.has_layer(chain_id)
    }

    fn layer_info(&self, chain_id: &Digest) -> Result<LayerInfo> {
        self.base.layer_info(chain_id)
    }

    fn stage_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tar: &mut dyn Read,
    ) -> Result<Staged> {
        self.base
            .stage_diff(parent, diff_id, tar, Whiteouts::Overlay)
    }

    fn commit_layer(&self, mut staged: Staged) -> Result<LayerInfo> {
        let Some((dir, stats, lowers)) = self
            .base
            .prepare_diff_commit(&mut staged, Whiteouts::Overlay)?
        else {
            return self.base.layer_info(&staged.chain_id);
        };
        for wh in &stats.whiteouts {
            let p = dir.join("diff").join(wh);
            let still_whiteout = fs::symlink_metadata(&p).is_ok_and(|m| {
                use std::os::unix::fs::{FileTypeExt, MetadataExt};
                m.file_type().is_char_device() && m.rdev() == 0
            });
            if still_whiteout && !super::lowers::lower_has(&dir.join("diff"), &lowers, wh) {
                match fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e).ctx("remove", &p);
                    }
                    _ => {}
                }
            }
        }
        let short = Self::short_name(&staged.chain_id)?;
        let lower = match &staged.parent {
            Some(p) => self.lowerdir(p)?,
            None => String::new(),
        };
        fs::write(dir.join("link"), &short).ctx("write", dir.join("link"))?;
        fs::write(dir.join("lower"), &lower).ctx("write", dir.join("lower"))?;
        let link = self.base.layers.join("l").join(&short);
        let _ = fs::remove_file(&link);
        symlink(format!("../{}/diff", sha256_hex(&staged.chain_id)?), &link)
            .ctx("symlink", &link)?;
        let info = staged.info(stats.tar_size);
        self.base.install(&dir, &info)?;
        staged.state = StagedState::Present;
        Ok(info)
    }

    fn remove_layer(&self, chain_id: &Digest) -> Result<()> {
        let link = self.base.layers.join("l").join(Self::short_name(chain_id)?);
        let _ = fs::remove_file(&link);
        self.base.remove_layer_dir(chain_id)
    }

    fn create_writable(&self, id: &str, image_top: Option<&Digest>) -> Result<()> {
        self.create_rw(id, image_top, false)
    }

    fn create_disposable(&self, id: &str, image_top: Option<&Digest>) -> Result<()> {
        self.create_rw(id, image_top, true)
    }

    fn set_disposable(&self, id: &str) -> Result<()> {
        self.base.set_disposable(id)
    }

    fn mounts(&self, id: &str) -> Result<Vec<Mount>> {
        Ok(vec![rootfs_mount(
            "overlay",
            "overlay",
            self.mount_options(id)?,
        )])
    }

    fn mount(&self, id: &str) -> Result<PathBuf> {
        let mounts = self.mounts(id)?;
        let target = self.base.mount_point(id)?;
        ensure_dir(&target)?;
        if !is_mounted(&target)? {
            mount_all(&mounts, &target)?;
        }
        Ok(target)
    }

    fn unmount(&self, id: &str) -> Result<()> {
        self.base.unmount_writable(id)
    }

    fn changes(&self, id: &str, out: &mut dyn Write) -> Result<()> {
        self.base.writable_meta(id)?;
        changes::write_upper(
            &self.base.rw_dir(id)?.join("upper"),
            changes::UpperKind::Overlay,
            out,
        )
    }

    fn writable_size(&self, id: &str) -> Result<u64> {
        self.base.writable_size(id)
    }

    fn remove_writable(&self, id: &str) -> Result<()> {
        self.base.remove_writable(id)
    }
}
