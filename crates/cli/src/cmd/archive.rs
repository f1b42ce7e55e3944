//! `export`, `save` and `load`: containers' filesystems and images as tar archives, in
//! docker's formats (see [`store::archive`]).

use crate::cli::{ExportArgs, LoadArgs, SaveArgs};
use crate::cmd::commit::{familiar, image_name};
use crate::container::{Containers, Status};
use crate::ctx::Ctx;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use store::archive::{ArchiveFile, ImageName, LoadOptions, SaveImage};
use store::{ImageRecord, Store};

const BUFFER: usize = 1 << 20;

/// Where `save` and `export` write: a regular file (written beside it and renamed into
/// place only when complete), a device or pipe named by `-o` (written directly), or
/// stdout, which must not be a terminal.
enum Output {
    Replace {
        tmp: BufWriter<tempfile::NamedTempFile>,
        dest: PathBuf,
    },
    Direct(BufWriter<File>),
}

impl Output {
    fn new(path: Option<&Path>) -> Result<Output> {
        let Some(path) = path else {
            let stdout = std::io::stdout();
            if rustix::termios::isatty(&stdout) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let fd = stdout.as_fd().try_clone_to_owned()?;
            return Ok(Output::Direct(BufWriter::with_capacity(
                BUFFER,
                File::from(fd),
            )));
        };
        if let Ok(m) = std::fs::metadata(path)
            && (m.file_type().is_char_device() || m.file_type().is_fifo())
        {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            return Ok(Output::Direct(BufWriter::with_capacity(BUFFER, f)));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .with_context(|| format!("invalid output file {}", path.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .tempfile_in(dir)
            .with_context(|| format!("failed to save to {}", path.display()))?;
        Ok(Output::Replace {
            tmp: BufWriter::with_capacity(BUFFER, tmp),
            dest: path.to_path_buf(),
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Replace { tmp, .. } => tmp,
            Output::Direct(w) => w,
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Output::Replace { tmp, dest } => {
                let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
                use std::os::unix::fs::PermissionsExt;
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o644))?;
                tmp.as_file().sync_all()?;
                tmp.persist(&dest)
                    .with_context(|| format!("renaming into {}", dest.display()))?;
                Ok(())
            }
            Output::Direct(mut w) => Ok(w.flush()?),
        }
    }
}

pub(crate) fn export(ctx: &Ctx, args: &ExportArgs) -> Result<()> {
    let containers = Containers::new(&ctx.root);
    // The true status: a container whose monitor died is ended first.
    let found = crate::monitor::lookup(ctx, &args.container)?;
    let mut out = Output::new(args.output.as_deref())?;
    let _lock = containers.lock(&found.id)?;
    let rec = containers.load(&found.id)?;
    let store = ctx.store()?;
    let driver = store::driver::by_name(&store, &rec.driver)?;
    let running = matches!(rec.state.status, Status::Running | Status::Paused)
        && crate::container::is_alive(rec.state.pid, rec.state.pid_start);
    let rootfs = driver.mount(&rec.id)?;
    let written = store::archive::write_tree(&rootfs, out.writer());
    if !running && let Err(e) = driver.unmount(&rec.id) {
        ctx.warn(format_args!("unmounting the rootfs of {}: {e}", rec.name));
    }
    written.with_context(|| format!("exporting {}", rec.name))?;
    out.finish()
}

/// What `save NAME` means, as docker has it: an ID (prefix) saves that image with no
/// names; `repo:tag` that tag; `repo` alone every tag of the repository.
fn images_for_save(store: &Store, name: &str) -> Result<Vec<(ImageRecord, Vec<ImageName>)>> {
    let hexish = name.strip_prefix("sha256:").unwrap_or(name);
    if hexish.len() >= 3
        && hexish.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(rec) = store.image(name)
    {
        return Ok(vec![(rec, Vec::new())]);
    }
    let r = crate::cmd::pull::parse_reference(name)?;
    if r.digest().is_some() {
        let rec = crate::cmd::images::find_image(store, name)?;
        return Ok(vec![(rec, Vec::new())]);
    }
    let mut wanted: Vec<(String, String)> = Vec::new();
    match r.tag() {
        Some(tag) => wanted.push((r.name(), tag.to_owned())),
        None => {
            for e in store.list()? {
                if e.repository.as_deref() == Some(r.name().as_str())
                    && let Some(tag) = e.tag
                {
                    wanted.push((r.name(), tag));
                }
            }
            if wanted.is_empty() {
                bail!("No such image: {name}");
            }
        }
    }
    let mut out: Vec<(ImageRecord, Vec<ImageName>)> = Vec::new();
    for (repo, tag) in wanted {
        let full = format!("{repo}:{tag}");
        let rec = store
            .image(&full)
            .map_err(|_| anyhow::anyhow!("No such image: {}", familiar(&repo, &tag)))?;
        let n = ImageName::new(full, familiar(&repo, &tag));
        match out.iter_mut().find(|(r, _)| r.id == rec.id) {
            Some((_, names)) => names.push(n),
            None => out.push((rec, vec![n])),
        }
    }
    Ok(out)
}

pub(crate) fn save(ctx: &Ctx, args: &SaveArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut images: Vec<SaveImage> = Vec::new();
    for name in &args.images {
        for (image, names) in images_for_save(&store, name)? {
            match images.iter_mut().find(|i| i.image.id == image.id) {
                Some(i) => {
                    for n in names {
                        if !i.names.contains(&n) {
                            i.names.push(n);
                        }
                    }
                }
                None => images.push(SaveImage { image, names }),
            }
        }
    }
    let mut out = Output::new(args.output.as_deref())?;
    let driver = ctx.driver(&store).ok();
    // Garbage collection stays away while the blobs are read.
    let _lease = store.lease()?;
    store::archive::save(&store, driver.as_deref(), &images, out.writer())?;
    out.finish()
}

pub(crate) fn load(ctx: &Ctx, args: &LoadArgs) -> Result<()> {
    let store = ctx.store()?;
    let driver = ctx.driver(&store)?;
    let archive = match &args.input {
        Some(p) => {
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            ArchiveFile::open(&store, f)?
        }
        None => {
            let stdin = std::io::stdin();
            if rustix::termios::isatty(&stdin) {
                bail!("requested load from stdin, but stdin is empty");
            }
            let fd = stdin.as_fd().try_clone_to_owned()?;
            ArchiveFile::open(&store, File::from(fd))?
        }
    };
    // `-q` has nothing to hide: no progress is printed.
    let _ = args.quiet;
    let resolve = |n: &str| match image_name(n) {
        Ok(name) => Some(name),
        Err(e) => {
            ctx.warn(format_args!("ignoring the image name {n:?}: {e:#}"));
            None
        }
    };
    let loaded = store::archive::load(
        &store,
        &*driver,
        &archive,
        &LoadOptions {
            resolve_name: &resolve,
        },
    )?;
    for l in loaded {
        if l.names.is_empty() {
            println!("Loaded image ID: {}", l.image.id);
        }
        for n in &l.names {
            let (repo, tag) = n.rsplit_once(':').unwrap_or((n.as_str(), "latest"));
            println!("Loaded image: {}", familiar(repo, tag));
        }
    }
    Ok(())
}
