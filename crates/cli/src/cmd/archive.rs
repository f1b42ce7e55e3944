//! `export`, `save` and `load`: containers' filesystems and images as tar archives, in
//! docker's formats, written to `-o FILE` or stdout and read from `-i FILE` or stdin.

use crate::args::{ExportArgs, LoadArgs, SaveArgs};
use crate::ctx::Ctx;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

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
    let mut out = Output::new(args.output.as_deref())?;
    ctx.engine.export(&args.container, out.writer())?;
    out.finish()
}

pub(crate) fn save(ctx: &Ctx, args: &SaveArgs) -> Result<()> {
    let mut out = Output::new(args.output.as_deref())?;
    ctx.engine.save(&args.images, out.writer())?;
    out.finish()
}

pub(crate) fn load(ctx: &Ctx, args: &LoadArgs) -> Result<()> {
    let file = match &args.input {
        Some(p) => File::open(p).with_context(|| format!("opening {}", p.display()))?,
        None => {
            let stdin = std::io::stdin();
            if rustix::termios::isatty(&stdin) {
                bail!("requested load from stdin, but stdin is empty");
            }
            File::from(stdin.as_fd().try_clone_to_owned()?)
        }
    };
    // `-q` has nothing to hide: no progress is printed.
    let _ = args.quiet;
    for l in ctx.engine.load(file)? {
        if l.names.is_empty() {
            println!("Loaded image ID: {}", l.image.id);
        }
        for n in &l.names {
            let (repo, tag) = n.rsplit_once(':').unwrap_or((n.as_str(), "latest"));
            println!("Loaded image: {}", engine::archive::familiar(repo, tag));
        }
    }
    Ok(())
}
