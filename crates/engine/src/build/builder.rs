//! The build itself: stages in order, each step looked up in the cache first, then run
//! (RUN), copied (COPY, ADD), made (WORKDIR) or applied (the metadata instructions), and
//! recorded as an image; the target's image is then labelled and tagged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use store::{Digest, StorageDriver, Store};

use super::context::Context;
use super::copy::{CopyOp, Match, Source};
use super::fsops::{Owner, Scratch, image_path, mkdir_in_root};
use super::ignore::Ignore;
use super::image::State;
use super::parser::{self, Instruction, json_form};
use super::stages::{Plan, expand, plan};
use super::words::Lexer;
use super::{BuildEvent, BuildOptions, BuildReporter, Built, cache, cancelled, dispatch, run};
use crate::config::Engine;
use crate::error::{Error, Result};
use crate::progress::{Progress, short_id};

/// Build arguments docker passes to RUN without a declaration, and keeps out of the
/// history and the cache.
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

pub(super) struct Builder<'a> {
    pub(super) engine: &'a Engine,
    pub(super) opts: &'a BuildOptions,
    pub(super) reporter: &'a dyn BuildReporter,
    progress: &'a dyn Progress,
    pub(super) store: Store,
    pub(super) driver: Arc<dyn StorageDriver>,
    pub(super) lexer: Lexer,
    plan: Plan,
    context: Context,
    platform: registry::Platform,
    /// Global (before the first FROM) build arguments.
    meta: Vec<(String, Option<String>)>,
    build_args: BTreeMap<String, String>,
    used: BTreeSet<String>,
    /// The image of each stage built so far.
    results: Vec<Option<State>>,
    step: usize,
    total: usize,
    pub(super) cancel: Arc<AtomicBool>,
}

/// A stage being built.
pub(super) struct StageRun {
    pub(super) state: State,
    /// ARGs declared in the stage, with their values.
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
}

pub(super) fn build(
    engine: &Engine,
    opts: &BuildOptions,
    reporter: &dyn BuildReporter,
    progress: &dyn Progress,
) -> Result<Built> {
    let tags = opts
        .tags
        .iter()
        .map(|t| crate::commit::image_name(t))
        .collect::<Result<Vec<_>>>()?;
    cache::sweep(engine);
    let mut b = Builder::new(engine, opts, reporter, progress)?;
    let target = b.plan.target(opts.target.as_deref())?;
    let meta_lookup = b.meta_lookup();
    let needed = b.plan.needed(target, &|s| {
        expand(b.lexer, s, &|n| meta_lookup.get(n).cloned())
    });
    b.total = needed
        .iter()
        .map(|i| 1 + b.plan.stages[*i].body.len())
        .sum::<usize>()
        + usize::from(!opts.labels.is_empty());
    b.results = vec![None; b.plan.stages.len()];
    for i in needed {
        let state = b.build_stage(i)?;
        b.results[i] = Some(state);
    }
    let mut state = b.results[target]
        .clone()
        .ok_or_else(|| Error::Build("no image".into()))?;
    if !opts.labels.is_empty() {
        state = b.labels(state)?;
    }
    let id = state
        .id
        .clone()
        .ok_or_else(|| Error::Build("No image was generated. Is your Dockerfile empty?".into()))?;
    let unused: Vec<&String> = b
        .build_args
        .keys()
        .filter(|k| !b.used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        reporter.event(BuildEvent::Warning(&format!(
            "[Warning] One or more build-args [{}] were not consumed",
            names.join(" ")
        )));
    }
    let mut shown = Vec::new();
    for (repo, tag) in tags {
        b.store.tag(id.as_ref(), &format!("{repo}:{tag}"))?;
        shown.push(crate::images::familiar_reference(&format!("{repo}:{tag}")));
    }
    let image = b.store.image(id.as_ref())?;
    Ok(Built { image, tags: shown })
}

impl<'a> Builder<'a> {
    fn new(
        engine: &'a Engine,
        opts: &'a BuildOptions,
        reporter: &'a dyn BuildReporter,
        progress: &'a dyn Progress,
    ) -> Result<Self> {
        let df = parser::parse(&opts.dockerfile)?;
        for w in &df.warnings {
            reporter.event(BuildEvent::Warning(w));
        }
        let plan = plan(&df)?;
        let platform = match &opts.platform {
            Some(p) => p
                .parse::<registry::Platform>()
                .map_err(|e| Error::Invalid(format!("invalid platform {p:?}: {e}")))?,
            None => registry::Platform::host(),
        };
        let context = match &opts.context {
            Some(dir) => Context::walk(dir, &read_ignore(opts)?)?,
            None => Context::default(),
        };
        let store = engine.store()?;
        let driver = engine.driver(&store)?;
        let mut b = Builder {
            engine,
            opts,
            reporter,
            progress,
            store,
            driver,
            lexer: Lexer { escape: df.escape },
            plan,
            context,
            meta: Vec::new(),
            build_args: opts.build_args.iter().cloned().collect(),
            used: BTreeSet::new(),
            results: Vec::new(),
            step: 0,
            total: 0,
            cancel: opts.cancel.clone().unwrap_or_default(),
            platform,
        };
        b.meta = b.predefined();
        for ins in b.plan.meta_args.clone() {
            for (name, default) in b.arg_decls(&ins, &b.meta_lookup())? {
                let value = b.arg_value(&name, default, None);
                b.meta.retain(|(n, _)| *n != name);
                b.meta.push((name, value));
            }
        }
        Ok(b)
    }

    /// TARGETPLATFORM, BUILDARCH... (global, as BuildKit defines them).
    fn predefined(&self) -> Vec<(String, Option<String>)> {
        let host = registry::Platform::host();
        let mut out = Vec::new();
        for (prefix, p) in [("TARGET", &self.platform), ("BUILD", &host)] {
            out.push((format!("{prefix}PLATFORM"), Some(p.to_string())));
            out.push((format!("{prefix}OS"), Some(p.os().to_owned())));
            out.push((format!("{prefix}ARCH"), Some(p.architecture().to_owned())));
            out.push((
                format!("{prefix}VARIANT"),
                Some(p.variant().unwrap_or("").to_owned()),
            ));
        }
        out
    }

    fn meta_lookup(&self) -> HashMap<String, String> {
        self.meta
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect()
    }

    /// `ARG a b=default`: names and defaults (substituted).
    fn arg_decls(
        &self,
        ins: &Instruction,
        vars: &HashMap<String, String>,
    ) -> Result<Vec<(String, Option<String>)>> {
        let lookup = |n: &str| vars.get(n).cloned();
        let mut out = Vec::new();
        for w in self.lexer.raw_words(&ins.args) {
            let (name, default) = match w.split_once('=') {
                Some((n, d)) => (n.to_owned(), Some(self.lexer.word(d, &lookup)?)),
                None => (w.clone(), None),
            };
            if name.is_empty() {
                return Err(ins.error(format!("invalid ARG {w:?}")));
            }
            out.push((name, default));
        }
        Ok(out)
    }

    /// An ARG's value: `--build-arg`, else its default, else the global one.
    fn arg_value(
        &mut self,
        name: &str,
        default: Option<String>,
        global: Option<String>,
    ) -> Option<String> {
        if let Some(v) = self.build_args.get(name) {
            self.used.insert(name.to_owned());
            return Some(v.clone());
        }
        default.or(global)
    }

    /// The variables of a stage: its ARGs, overridden by the config's ENV.
    pub(super) fn vars(&self, run: &mut StageRun) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = run
            .args
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        for e in run.state.strings("Env") {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            vars.insert(k.to_owned(), v.to_owned());
        }
        vars
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(cancelled());
        }
        Ok(())
    }

    fn announce(&mut self, instruction: &str) {
        self.step += 1;
        self.reporter.event(BuildEvent::Step {
            number: self.step,
            total: self.total,
            instruction,
        });
    }

    pub(super) fn show(&self, state: &State) {
        if let Some(id) = &state.id {
            self.reporter
                .event(BuildEvent::Image(short_id(id.digest())));
        }
    }

    /// A base image (or `--from` image): present, else (or with `--pull`) pulled.
    fn image(&self, name: &str, platform: Option<&str>) -> Result<store::ImageRecord> {
        if !self.opts.pull {
            match self.engine.image(name) {
                Ok(rec) => return Ok(rec),
                Err(Error::NoSuchImage(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let platform = platform.or(self.opts.platform.as_deref());
        Ok(self.engine.pull(name, platform, self.progress)?.image)
    }

    fn build_stage(&mut self, i: usize) -> Result<State> {
        self.check_cancel()?;
        let stage = self.plan.stages[i].clone();
        self.announce(&stage.from.original);
        let meta = self.meta_lookup();
        let lookup = |n: &str| meta.get(n).cloned();
        let base = expand(self.lexer, &stage.base, &lookup);
        let platform = stage
            .from
            .flag("platform")
            .map(|p| expand(self.lexer, p, &lookup));
        let state = if base.eq_ignore_ascii_case("scratch") {
            match &platform {
                Some(p) => State::scratch(
                    &p.parse()
                        .map_err(|e| stage.from.error(format!("invalid platform {p:?}: {e}")))?,
                ),
                None => State::scratch(&self.platform),
            }
        } else if let Some(dep) = self.plan.stage_ref(&base, i, false) {
            self.results[dep]
                .clone()
                .ok_or_else(|| Error::Build(format!("stage {base} was not built")))?
        } else if base.is_empty() {
            return Err(stage.from.error("base name (\"\") should not be blank"));
        } else {
            let rec = self.image(&base, platform.as_deref())?;
            State::of_image(&self.store, &rec)?
        };
        self.show(&state);
        let mut run = StageRun {
            state,
            args: Vec::new(),
            cmd_set: false,
        };
        let triggers = run.state.strings("OnBuild");
        if !triggers.is_empty() {
            self.reporter.event(BuildEvent::Triggers(triggers.len()));
            run.state.cfg().remove("OnBuild");
            for t in triggers {
                let ins = parser::instruction(&t, stage.from.line)?;
                self.dispatch(&mut run, &ins, i)?;
            }
        }
        for ins in &stage.body {
            self.check_cancel()?;
            self.announce(&ins.original);
            self.dispatch(&mut run, ins, i)?;
        }
        Ok(run.state)
    }

    fn dispatch(&mut self, run: &mut StageRun, ins: &Instruction, stage: usize) -> Result<()> {
        match ins.keyword.as_str() {
            "ARG" => {
                let vars = self.vars(run);
                let decls = self.arg_decls(ins, &vars)?;
                // docker's classic builder records ARG as a step of its own.
                let shown: Vec<String> = decls
                    .iter()
                    .map(|(n, d)| match d {
                        Some(d) => format!("{n}={d}"),
                        None => n.clone(),
                    })
                    .collect();
                let created_by = dispatch::nop(&format!("ARG {}", shown.join(" ")));
                for (name, default) in decls {
                    let global = self
                        .meta
                        .iter()
                        .find(|(n, _)| *n == name)
                        .and_then(|(_, v)| v.clone());
                    let value = self.arg_value(&name, default, global);
                    run.args.retain(|(n, _)| *n != name);
                    run.args.push((name, value));
                }
                if let Some(hit) = self.cached(&run.state, &created_by) {
                    run.state = hit;
                    return Ok(());
                }
                let (next, _) = run
                    .state
                    .commit(&self.store, &*self.driver, None, &created_by)?;
                self.done(run, &created_by, next)
            }
            "RUN" => self.run_step(run, ins),
            "COPY" | "ADD" => self.copy_step(run, ins, stage),
            "WORKDIR" => self.workdir_step(run, ins),
            "FROM" => Err(ins.error("FROM inside a stage")),
            _ => self.meta_step(run, ins),
        }
    }

    /// The key of `step_text` on the current image.
    fn key(state: &State, step_text: &str) -> String {
        let parent = match &state.id {
            Some(id) => id.to_string(),
            None => format!("scratch {}", state.config),
        };
        cache::key(&parent, step_text)
    }

    /// The cached result of a step, if the cache has a usable one (reported).
    pub(super) fn cached(&self, state: &State, step_text: &str) -> Option<State> {
        if self.opts.no_cache {
            return None;
        }
        let id = cache::lookup(&self.engine.config.root, &Self::key(state, step_text))?;
        let rec = self.store.image(id.as_ref()).ok()?;
        if let Some(top) = rec.top_chain_id()
            && !self.driver.has_layer(top).unwrap_or(false)
        {
            return None;
        }
        let next = State::of_image(&self.store, &rec).ok()?;
        self.reporter.event(BuildEvent::UsingCache);
        self.show(&next);
        Some(next)
    }

    /// Records a step's result in the cache; it becomes the current image.
    pub(super) fn done(&self, run: &mut StageRun, step_text: &str, next: State) -> Result<()> {
        if let Some(id) = &next.id {
            cache::record(
                &self.engine.config.root,
                &Self::key(&run.state, step_text),
                run.state.id.as_ref(),
                id,
            )?;
        }
        self.show(&next);
        run.state = next;
        Ok(())
    }

    fn meta_step(&mut self, run: &mut StageRun, ins: &Instruction) -> Result<()> {
        ins.allow_flags(if ins.keyword == "HEALTHCHECK" {
            &[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ]
        } else {
            &[]
        })?;
        let vars = self.vars(run);
        let lookup = |n: &str| vars.get(n).cloned();
        let mut next = run.state.clone();
        let mut cmd_set = run.cmd_set;
        let created_by = dispatch::apply(ins, &mut next, self.lexer, &lookup, &mut cmd_set)?;
        let key = format!("{created_by}\0cmd_set={}", run.cmd_set);
        run.cmd_set = cmd_set;
        if let Some(hit) = self.cached(&run.state, &key) {
            run.state = hit;
            return Ok(());
        }
        let (next, _) = next.commit(&self.store, &*self.driver, None, &created_by)?;
        self.done(run, &key, next)
    }

    fn labels(&mut self, state: State) -> Result<State> {
        let shown: Vec<String> = self
            .opts
            .labels
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    serde_json::to_string(k).unwrap_or_default(),
                    serde_json::to_string(v).unwrap_or_default()
                )
            })
            .collect();
        let text = format!("LABEL {}", shown.join(" "));
        self.announce(&text);
        let ins = parser::instruction(&text, 0)?;
        let mut run = StageRun {
            state,
            args: Vec::new(),
            cmd_set: true,
        };
        self.meta_step(&mut run, &ins)?;
        Ok(run.state)
    }

    fn run_step(&mut self, run: &mut StageRun, ins: &Instruction) -> Result<()> {
        if ins.flag("mount").is_some() || ins.flag("security").is_some() {
            return Err(ins.error(
                "RUN --mount and --security are BuildKit features mydocker does not support",
            ));
        }
        ins.allow_flags(&["network"])?;
        let network = match ins.flag("network") {
            Some("default") | None => self.opts.network.clone(),
            Some(n @ ("none" | "host")) => Some(n.to_owned()),
            Some(n) => return Err(ins.error(format!("unsupported RUN --network={n}"))),
        };
        let argv = dispatch::command(&mut run.state, &ins.args);
        let env_names: BTreeSet<String> = run
            .state
            .strings("Env")
            .iter()
            .map(|e| e.split('=').next().unwrap_or("").to_owned())
            .collect();
        let mut shown: Vec<String> = run
            .args
            .iter()
            .filter(|(k, _)| !env_names.contains(k) && !PROXY_ARGS.contains(&k.as_str()))
            .filter_map(|(k, v)| Some(format!("{k}={}", v.as_ref()?)))
            .collect();
        // docker sorts them, so the history line and the cache key are stable.
        shown.sort();
        let mut env = shown.clone();
        for p in PROXY_ARGS {
            let declared = run
                .args
                .iter()
                .find(|(k, _)| k == p)
                .and_then(|(_, v)| v.clone());
            if let Some(v) = declared.or_else(|| self.build_args.get(p).cloned()) {
                env.push(format!("{p}={v}"));
            }
        }
        let text = argv.join(" ");
        let created_by = if shown.is_empty() {
            text
        } else {
            format!("|{} {} {text}", shown.len(), shown.join(" "))
        };
        if let Some(hit) = self.cached(&run.state, &created_by) {
            run.state = hit;
            return Ok(());
        }
        let Some(image) = run.state.id.clone() else {
            return Err(Error::Build(format!(
                "The command '{}' cannot run: the image is empty (FROM scratch)",
                argv.join(" ")
            )));
        };
        let step = run::RunStep {
            image: &image,
            top: run.state.top.as_ref(),
            argv,
            env,
            network,
            cgroup_parent: self.opts.cgroup_parent.clone(),
        };
        let layer = run::run(self.engine, &self.store, &step, self.reporter, &self.cancel)?;
        let (next, _) = run
            .state
            .commit(&self.store, &*self.driver, Some(&layer), &created_by)?;
        self.done(run, &created_by, next)
    }

    fn workdir_step(&mut self, run: &mut StageRun, ins: &Instruction) -> Result<()> {
        ins.allow_flags(&[])?;
        let vars = self.vars(run);
        let dir = self.lexer.word(&ins.args, &|n| vars.get(n).cloned())?;
        if dir.is_empty() {
            return Err(ins.error("WORKDIR requires exactly one argument"));
        }
        let mut path = image_path(&run.state.string("WorkingDir"), &dir);
        if path.len() > 1 {
            path = path.trim_end_matches('/').to_owned();
        }
        let created_by = dispatch::nop(&format!("WORKDIR {path}"));
        if let Some(hit) = self.cached(&run.state, &created_by) {
            run.state = hit;
            return Ok(());
        }
        let layer = {
            let scratch = Scratch::mount(self.engine, &self.driver, run.state.top.as_ref())?;
            mkdir_in_root(scratch.rootfs(), &path, Owner::default())?;
            scratch.layer(&self.store, run.state.top.as_ref(), false)?
        };
        let mut next = run.state.clone();
        next.cfg()
            .insert("WorkingDir".into(), serde_json::json!(path));
        let (next, _) = next.commit(&self.store, &*self.driver, layer.as_ref(), &created_by)?;
        self.done(run, &created_by, next)
    }

    fn copy_step(&mut self, run: &mut StageRun, ins: &Instruction, stage: usize) -> Result<()> {
        let kw = ins.keyword.as_str();
        ins.allow_flags(&["from", "chown", "chmod", "link"])?;
        let vars = self.vars(run);
        let lookup = |n: &str| vars.get(n).cloned();
        let words = match json_form(&ins.args) {
            Some(v) => v
                .iter()
                .map(|w| self.lexer.word(w, &lookup))
                .collect::<Result<Vec<_>>>()?,
            None => ins
                .args
                .split_whitespace()
                .map(|w| self.lexer.word(w, &lookup))
                .collect::<Result<Vec<_>>>()?,
        };
        let [srcs @ .., dest] = words.as_slice() else {
            return Err(ins.error(format!("{kw} requires at least two arguments")));
        };
        if srcs.is_empty() {
            return Err(ins.error(format!(
                "{kw} requires at least two arguments, but only one was provided. Destination could not be determined."
            )));
        }
        for s in srcs {
            if s.contains("://") || s.starts_with("git@") {
                return Err(Error::Build(if kw == "ADD" {
                    format!(
                        "ADD from a URL is not supported: download {s} into the build context, then ADD or COPY it from there"
                    )
                } else {
                    format!("COPY failed: source can't be a URL for COPY: {s}")
                }));
            }
        }
        let dest = image_path(&run.state.string("WorkingDir"), dest);
        let chown = ins
            .flag("chown")
            .map(|c| self.lexer.word(c, &lookup))
            .transpose()?;
        let chmod = ins.flag("chmod").map(super::copy::mode).transpose()?;
        let from = ins
            .flag("from")
            .map(|f| self.lexer.word(f, &lookup))
            .transpose()?;
        let flags = format!("chown={chown:?} chmod={chmod:?}");
        super::copystep::copy(
            self,
            run,
            ins,
            stage,
            super::copystep::Args {
                srcs,
                dest: &dest,
                chown: chown.as_deref(),
                chmod,
                from: from.as_deref(),
                flags: &flags,
            },
        )
    }

    /// The image of an earlier stage or any image, for `--from`.
    pub(super) fn source_image(
        &self,
        from: &str,
        stage: usize,
    ) -> Result<(Option<Digest>, Option<Digest>)> {
        if let Some(dep) = self.plan.stage_ref(from, stage, true) {
            let s = self.results[dep]
                .as_ref()
                .ok_or_else(|| Error::Build(format!("stage {from} was not built")))?;
            return Ok((s.id.clone(), s.top.clone()));
        }
        let rec = self.image(from, None)?;
        Ok((Some(rec.id.clone()), rec.top_chain_id().cloned()))
    }

    pub(super) fn context(&self) -> &Context {
        &self.context
    }

    /// Runs a copy into a scratch layer on the current image; returns its layer.
    pub(super) fn copy_into(
        &self,
        run: &StageRun,
        source: Source<'_>,
        matches: &[Match],
        args: &super::copystep::Args<'_>,
        extract: bool,
    ) -> Result<store::archive::BuiltLayer> {
        let (dest, chown, chmod) = (args.dest, args.chown, args.chmod);
        let scratch = Scratch::mount(self.engine, &self.driver, run.state.top.as_ref())?;
        let owner = match chown {
            Some(spec) => super::copy::owner(scratch.rootfs(), spec)?,
            None => Owner::default(),
        };
        let cancel = self.cancel.clone();
        let op = CopyOp {
            source,
            matches,
            dest,
            owner,
            chmod,
            extract,
            cancelled: &move || cancel.load(Ordering::SeqCst),
        };
        op.run(scratch.rootfs())?;
        scratch
            .layer(&self.store, run.state.top.as_ref(), true)?
            .ok_or_else(|| Error::Build("the copy made no layer".into()))
    }
}

/// The `.dockerignore` of the build: `<Dockerfile>.dockerignore` beside `-f`'s file when
/// there is one, else the context's.
fn read_ignore(opts: &BuildOptions) -> Result<Ignore> {
    let mut candidates = Vec::new();
    if let Some(df) = &opts.dockerfile_path {
        let mut p = df.clone().into_os_string();
        p.push(".dockerignore");
        candidates.push(std::path::PathBuf::from(p));
    }
    if let Some(ctx) = &opts.context {
        candidates.push(ctx.join(".dockerignore"));
    }
    for c in candidates {
        match std::fs::read_to_string(&c) {
            Ok(text) => return Ignore::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("reading", &c, e)),
        }
    }
    Ok(Ignore::default())
}
