//! The instructions that change only the image config (ENV, LABEL, CMD, ENTRYPOINT,
//! EXPOSE, VOLUME, USER, WORKDIR's config part, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD,
//! MAINTAINER): each applied to a [`State`] with docker's rules, returning the history
//! line docker writes for it (`/bin/sh -c #(nop)  ENV A=1`).

use serde_json::{Map, Value, json};

use super::image::State;
use super::parser::{Instruction, json_form};
use super::words::{Lexer, Lookup};
use crate::changes::object;
use crate::error::{Error, Result};
use crate::options::merge_env;

/// docker's history line of a metadata instruction.
pub(crate) fn nop(text: &str) -> String {
    format!("/bin/sh -c #(nop)  {text}")
}

/// A list as Go's `%q` prints it: `["a" "b c"]`.
pub(crate) fn go_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// The shell of the shell form: the config's `Shell`, else `/bin/sh -c`.
pub(crate) fn shell(state: &mut State) -> Vec<String> {
    let s = state.strings("Shell");
    if s.is_empty() {
        vec!["/bin/sh".into(), "-c".into()]
    } else {
        s
    }
}

/// The command of RUN, CMD and ENTRYPOINT: the exec form as given, the shell form after
/// the shell.
pub(crate) fn command(state: &mut State, args: &str) -> Vec<String> {
    match json_form(args) {
        Some(v) => v,
        None => {
            let mut v = shell(state);
            v.push(args.to_owned());
            v
        }
    }
}

/// Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn duration_ns(ins: &Instruction, flag: &str, v: &str) -> Result<i64> {
    let d = humantime::parse_duration(v)
        .map_err(|e| ins.error(format!("invalid --{flag} value {v:?}: {e}")))?;
    i64::try_from(d.as_nanos()).map_err(|_| ins.error(format!("--{flag} {v} is too long")))
}

fn healthcheck(ins: &Instruction, state: &mut State) -> Result<()> {
    ins.allow_flags(&[
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ])?;
    let args = ins.args.trim();
    let (word, rest) = args
        .split_once(char::is_whitespace)
        .map_or((args, ""), |(w, r)| (w, r.trim()));
    let mut hc = Map::new();
    match word.to_ascii_uppercase().as_str() {
        "NONE" if rest.is_empty() && ins.flags.is_empty() => {
            hc.insert("Test".into(), json!(["NONE"]));
        }
        "NONE" => return Err(ins.error("HEALTHCHECK NONE takes no arguments")),
        "CMD" if !rest.is_empty() => {
            let test = match json_form(rest) {
                Some(v) => std::iter::once("CMD".to_owned()).chain(v).collect(),
                None => vec!["CMD-SHELL".to_owned(), rest.to_owned()],
            };
            hc.insert("Test".into(), json!(test));
            for (flag, key) in [
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start-period", "StartPeriod"),
                ("start-interval", "StartInterval"),
            ] {
                if let Some(v) = ins.flag(flag) {
                    hc.insert(key.into(), json!(duration_ns(ins, flag, v)?));
                }
            }
            if let Some(r) = ins.flag("retries") {
                let n: i64 = r
                    .parse()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| ins.error(format!("invalid --retries value {r:?}")))?;
                hc.insert("Retries".into(), json!(n));
            }
        }
        _ => return Err(ins.error("Unknown type in HEALTHCHECK (try CMD or NONE)")),
    }
    state.cfg().insert("Healthcheck".into(), Value::Object(hc));
    Ok(())
}

/// Applies a metadata instruction; returns its history line. `cmd_set` tells whether
/// this stage set CMD (then ENTRYPOINT keeps it).
pub(crate) fn apply(
    ins: &Instruction,
    state: &mut State,
    lexer: Lexer,
    vars: Lookup<'_>,
    cmd_set: &mut bool,
) -> Result<String> {
    let text = match ins.keyword.as_str() {
        "ENV" => {
            let pairs = lexer.key_values("ENV", &ins.args, vars, true)?;
            let mut env = state.strings("Env");
            merge_env(&mut env, pairs.iter().map(|(k, v)| format!("{k}={v}")));
            state.cfg().insert("Env".into(), json!(env));
            let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("ENV {}", shown.join(" "))
        }
        "LABEL" => {
            let pairs = lexer.key_values("LABEL", &ins.args, vars, true)?;
            let labels = object(state.cfg(), "Labels");
            for (k, v) in &pairs {
                labels.insert(k.clone(), json!(v));
            }
            let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("LABEL {}", shown.join(" "))
        }
        "CMD" => {
            let cmd = command(state, &ins.args);
            state.cfg().insert("Cmd".into(), json!(cmd));
            *cmd_set = true;
            format!("CMD {}", go_list(&cmd))
        }
        "ENTRYPOINT" => {
            let ep = command(state, &ins.args);
            state.cfg().insert("Entrypoint".into(), json!(ep));
            if !*cmd_set {
                state.cfg().insert("Cmd".into(), Value::Null);
            }
            format!("ENTRYPOINT {}", go_list(&ep))
        }
        "EXPOSE" => {
            let ports = lexer.words(&ins.args, vars)?;
            let mut change = Map::new();
            crate::changes::apply_changes(&mut change, &[format!("EXPOSE {}", ports.join(" "))])
                .map_err(|e| ins.error(e))?;
            let mut keys: Vec<String> = change
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            let exposed = object(state.cfg(), "ExposedPorts");
            for k in &keys {
                exposed.insert(k.clone(), json!({}));
            }
            format!("EXPOSE {}", keys.join(" "))
        }
        "VOLUME" => {
            let vols = match json_form(&ins.args) {
                Some(v) => v
                    .iter()
                    .map(|w| lexer.word(w, vars))
                    .collect::<Result<Vec<_>>>()?,
                None => lexer.words(&ins.args, vars)?,
            };
            if vols.is_empty() || vols.iter().any(|v| v.trim().is_empty()) {
                return Err(ins.error("VOLUME specified can not be an empty string"));
            }
            let volumes = object(state.cfg(), "Volumes");
            for v in &vols {
                volumes.insert(v.clone(), json!({}));
            }
            format!("VOLUME [{}]", vols.join(" "))
        }
        "USER" | "STOPSIGNAL" | "MAINTAINER" => {
            let v = lexer.word(&ins.args, vars)?;
            if v.is_empty() {
                return Err(ins.error(format!("{} requires exactly one argument", ins.keyword)));
            }
            match ins.keyword.as_str() {
                "USER" => state.cfg().insert("User".into(), json!(v)),
                "STOPSIGNAL" => {
                    crate::control::parse_signal(&v).map_err(|e| ins.error(e))?;
                    state.cfg().insert("StopSignal".into(), json!(v))
                }
                _ => state
                    .config
                    .as_object_mut()
                    .and_then(|top| top.insert("author".into(), json!(v))),
            };
            format!("{} {v}", ins.keyword)
        }
        "SHELL" => {
            let sh = json_form(&ins.args)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ins.error("SHELL requires the arguments to be in JSON form"))?;
            state.cfg().insert("Shell".into(), json!(sh));
            format!("SHELL [{}]", sh.join(" "))
        }
        "HEALTHCHECK" => {
            healthcheck(ins, state)?;
            ins.original.clone()
        }
        "ONBUILD" => {
            let trigger = ins.original.trim();
            let trigger = trigger
                .split_once(char::is_whitespace)
                .map_or("", |(_, rest)| rest.trim());
            let inner = super::parser::instruction(trigger, ins.line)?;
            if matches!(inner.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(ins.error(format!(
                    "{} isn't allowed as an ONBUILD trigger",
                    inner.keyword
                )));
            }
            let mut on = state.strings("OnBuild");
            on.push(trigger.to_owned());
            state.cfg().insert("OnBuild".into(), json!(on));
            format!("ONBUILD {trigger}")
        }
        other => {
            return Err(Error::Invalid(format!(
                "{other} is not a metadata instruction"
            )));
        }
    };
    Ok(nop(&text))
}

#[cfg(test)]
mod tests {
    use super::super::parser::instruction;
    use super::*;

    fn applied(lines: &[&str]) -> (State, Vec<String>) {
        let mut state = State::scratch(&registry::Platform::host());
        let mut cmd_set = false;
        let lexer = Lexer { escape: '\\' };
        let vars = |n: &str| (n == "V").then(|| "val".to_owned());
        let mut history = Vec::new();
        for l in lines {
            let ins = instruction(l, 1).unwrap();
            history.push(apply(&ins, &mut state, lexer, &vars, &mut cmd_set).unwrap());
        }
        (state, history)
    }

    #[test]
    fn metadata_as_docker_records_it() {
        let (mut s, h) = applied(&[
            "ENV A=$V B=\"two words\"",
            "LABEL version=1 maintainer=\"me\"",
            "EXPOSE 80 53/udp",
            "VOLUME /data $V",
            "USER nobody",
            "STOPSIGNAL SIGINT",
            "SHELL [\"/bin/bash\", \"-c\"]",
            "CMD echo hi",
            "ENTRYPOINT [\"/ep\"]",
            "HEALTHCHECK --interval=5s --retries=2 CMD true",
            "ONBUILD RUN echo child",
            "MAINTAINER someone",
        ]);
        assert_eq!(h[0], "/bin/sh -c #(nop)  ENV A=val B=two words");
        assert_eq!(s.env("A").as_deref(), Some("val"));
        assert_eq!(
            s.cfg()["Labels"],
            json!({"version": "1", "maintainer": "me"})
        );
        assert_eq!(s.cfg()["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(s.cfg()["Volumes"], json!({"/data": {}, "val": {}}));
        assert_eq!(s.string("User"), "nobody");
        assert_eq!(s.strings("Cmd"), ["/bin/bash", "-c", "echo hi"]);
        assert_eq!(
            h[7],
            "/bin/sh -c #(nop)  CMD [\"/bin/bash\" \"-c\" \"echo hi\"]"
        );
        assert_eq!(
            s.strings("Entrypoint"),
            ["/ep"],
            "CMD set in this stage stays"
        );
        assert_eq!(s.strings("Cmd").len(), 3);
        assert_eq!(
            s.cfg()["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64, "Retries": 2})
        );
        assert_eq!(s.strings("OnBuild"), ["RUN echo child"]);
        assert_eq!(s.config["author"], json!("someone"));
        let (mut s, _) = applied(&["ENTRYPOINT /ep"]);
        assert_eq!(s.strings("Entrypoint"), ["/bin/sh", "-c", "/ep"]);
        assert_eq!(s.cfg()["Cmd"], Value::Null);
    }

    #[test]
    fn bad_metadata_is_refused() {
        let mut state = State::scratch(&registry::Platform::host());
        let lexer = Lexer { escape: '\\' };
        for bad in [
            "SHELL /bin/bash",
            "EXPOSE 99999",
            "STOPSIGNAL NOPE",
            "HEALTHCHECK WHAT",
            "ONBUILD FROM x",
            "LABEL novalue",
        ] {
            let ins = instruction(bad, 3).unwrap();
            let r = apply(&ins, &mut state, lexer, &|_| None, &mut false);
            assert!(r.is_err(), "{bad} was accepted");
        }
    }
}
