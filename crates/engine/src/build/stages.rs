//! Build stages: the ARGs before the first FROM (usable in FROM lines), each FROM with its
//! instructions, stage names (`AS name`, case-insensitive), `--target`, and which stages
//! the target needs (its base and `COPY --from` stages, recursively): the others are
//! skipped.

use std::collections::BTreeSet;

use super::parser::{Dockerfile, Instruction};
use super::words::Lexer;
use crate::error::{Error, Result};

/// One stage.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    /// Its name (lower case), if it has one.
    pub(crate) name: Option<String>,
    /// The FROM instruction.
    pub(crate) from: Instruction,
    /// The base as written (before substitution).
    pub(crate) base: String,
    /// The instructions after FROM.
    pub(crate) body: Vec<Instruction>,
}

/// The stages of a Dockerfile.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// ARG instructions before the first FROM.
    pub(crate) meta_args: Vec<Instruction>,
    pub(crate) stages: Vec<Stage>,
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Splits a Dockerfile into stages.
///
/// # Errors
/// An instruction other than ARG before the first FROM, a FROM without an image, a bad or
/// duplicate stage name, no FROM at all.
pub(crate) fn plan(df: &Dockerfile) -> Result<Plan> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "FROM" {
            ins.allow_flags(&["platform"])?;
            let words: Vec<&str> = ins.args.split_whitespace().collect();
            let (base, name) = match words.as_slice() {
                [base] => (*base, None),
                [base, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    (*base, Some(name.to_ascii_lowercase()))
                }
                _ => return Err(ins.error("FROM requires either one or three arguments")),
            };
            if let Some(n) = &name {
                if !valid_stage_name(n) {
                    return Err(ins.error(format!(
                        "invalid name for build stage: \"{n}\", name can't start with a number or contain symbols"
                    )));
                }
                if stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                    return Err(ins.error(format!("duplicate name {n}")));
                }
            }
            stages.push(Stage {
                name,
                from: ins.clone(),
                base: base.to_owned(),
                body: Vec::new(),
            });
            continue;
        }
        match stages.last_mut() {
            Some(stage) => stage.body.push(ins.clone()),
            None if ins.keyword == "ARG" => meta_args.push(ins.clone()),
            None => {
                return Err(ins.error(format!(
                    "{} instruction before the first FROM: no build stage in current context",
                    ins.keyword
                )));
            }
        }
    }
    if stages.is_empty() {
        return Err(Error::Invalid(
            "the Dockerfile has no FROM instruction: no build stage in current context".into(),
        ));
    }
    Ok(Plan { meta_args, stages })
}

impl Plan {
    /// The index of the stage named `name` (case-insensitive) or numbered so.
    pub(crate) fn stage_index(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < before)
    }

    /// The index of the target stage: `--target`, else the last.
    ///
    /// # Errors
    /// No stage of that name.
    pub(crate) fn target(&self, target: Option<&str>) -> Result<usize> {
        match target {
            None => Ok(self.stages.len() - 1),
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(lower.as_str()))
                    .ok_or_else(|| {
                        Error::Invalid(format!("failed to reach build target {t} in Dockerfile"))
                    })
            }
        }
    }

    /// The stages `target` needs, itself included, in order. `expand` substitutes the
    /// global build arguments in a FROM or `--from` value.
    pub(crate) fn needed(&self, target: usize, expand: &dyn Fn(&str) -> String) -> Vec<usize> {
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !needed.insert(i) {
                continue;
            }
            let stage = &self.stages[i];
            if let Some(dep) = self.stage_ref(&expand(&stage.base), i, false) {
                todo.push(dep);
            }
            for ins in &stage.body {
                if matches!(ins.keyword.as_str(), "COPY" | "ADD")
                    && let Some(from) = ins.flag("from")
                    && let Some(dep) = self.stage_ref(&expand(from), i, true)
                {
                    todo.push(dep);
                }
            }
        }
        needed.into_iter().collect()
    }

    /// The earlier stage a FROM (by name only) or a `--from` (by name or number) names.
    pub(crate) fn stage_ref(&self, name: &str, before: usize, numbers: bool) -> Option<usize> {
        if !numbers && name.parse::<usize>().is_ok() {
            return None;
        }
        self.stage_index(name, before)
    }
}

/// Substitutes build arguments in a FROM line (`FROM $BASE`); unknown names become empty.
pub(crate) fn expand(lexer: Lexer, text: &str, args: &dyn Fn(&str) -> Option<String>) -> String {
    lexer.word(text, args).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    #[test]
    fn stages_targets_and_what_they_need() {
        let df = parse(
            "ARG BASE=busybox\nFROM $BASE AS Build\nRUN x\nFROM busybox AS unused\nRUN y\n\
             FROM build AS test\nCOPY --from=0 /a /b\nFROM scratch\nCOPY --from=test /x /y\n",
        )
        .unwrap();
        let p = plan(&df).unwrap();
        assert_eq!(p.meta_args.len(), 1);
        assert_eq!(p.stages.len(), 4);
        assert_eq!(p.stages[0].name.as_deref(), Some("build"));
        let id = |s: &str| s.to_owned();
        assert_eq!(p.needed(p.target(None).unwrap(), &id), [0, 2, 3]);
        assert_eq!(p.needed(p.target(Some("BUILD")).unwrap(), &id), [0]);
        assert_eq!(p.needed(p.target(Some("unused")).unwrap(), &id), [1]);
        assert!(p.target(Some("nope")).is_err());
        assert!(plan(&parse("RUN x\nFROM a\n").unwrap()).is_err());
        assert!(plan(&parse("FROM a AS 1x\n").unwrap()).is_err());
        assert!(plan(&parse("FROM a AS x\nFROM b AS X\n").unwrap()).is_err());
        assert!(plan(&parse("FROM a b\n").unwrap()).is_err());
        assert!(plan(&parse("ARG A\n").unwrap()).is_err());
    }
}
