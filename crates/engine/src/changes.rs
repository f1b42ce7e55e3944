//! `--change` of `commit` and `import`: Dockerfile instructions (CMD, ENTRYPOINT, ENV,
//! EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR) applied to the `config`
//! object of an image config, and the word splitting they share with Dockerfiles.

use serde_json::{Map, Value, json};

use crate::error::{Error, Result, invalid};
use crate::options::merge_env;

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Applies docker's `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
/// STOPSIGNAL, USER, VOLUME, WORKDIR) to the `config` object of an image config.
///
/// # Errors
/// An unknown instruction or a malformed argument (docker's messages).
pub fn apply_changes(cfg: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        let change = change.trim();
        let (word, rest) = match change.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (change, ""),
        };
        let instruction = word.to_ascii_uppercase();
        match instruction.as_str() {
            "CMD" => {
                cfg.insert("Cmd".into(), json!(exec_or_shell(rest)));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                cfg.insert("Entrypoint".into(), json!(exec_or_shell(rest)));
                // As in a Dockerfile: a new entrypoint drops the inherited command.
                if !cmd_set {
                    cfg.insert("Cmd".into(), Value::Null);
                }
            }
            "ENV" => {
                let mut env = strings(cfg.get("Env"));
                merge_env(&mut env, key_values(rest, "ENV", true)?);
                cfg.insert("Env".into(), json!(env));
            }
            "LABEL" => label(cfg, rest)?,
            "EXPOSE" => expose(cfg, rest)?,
            "VOLUME" => volume(cfg, rest)?,
            "USER" | "STOPSIGNAL" => {
                if rest.is_empty() {
                    invalid!("{instruction} requires exactly one argument");
                }
                let key = if instruction == "USER" {
                    "User"
                } else {
                    "StopSignal"
                };
                cfg.insert(key.into(), json!(rest));
            }
            "WORKDIR" => workdir(cfg, rest)?,
            "HEALTHCHECK" => {
                cfg.insert("Healthcheck".into(), healthcheck(rest)?);
            }
            "ONBUILD" => {
                if rest.is_empty() {
                    invalid!("ONBUILD requires at least one argument");
                }
                let mut on = strings(cfg.get("OnBuild"));
                on.push(rest.to_owned());
                cfg.insert("OnBuild".into(), json!(on));
            }
            _ => invalid!("{word} is not a valid change command"),
        }
    }
    Ok(())
}

/// A Dockerfile `HEALTHCHECK` as docker's `Healthcheck` config: `NONE`, or
/// `[--interval=D] [--timeout=D] [--start-period=D] [--retries=N] CMD command`.
fn healthcheck(rest: &str) -> Result<Value> {
    let mut rest = rest.trim();
    let mut cfg = Map::new();
    while let Some(opt) = rest.strip_prefix("--") {
        let (flag, after) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let Some((name, value)) = flag.split_once('=') else {
            invalid!("HEALTHCHECK: missing value for --{flag}");
        };
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "retries" => "Retries",
            _ => invalid!("Unknown flag: {name}"),
        };
        let v = if key == "Retries" {
            value
                .parse::<u32>()
                .map_err(|_| Error::Invalid(format!("invalid retries value: {value}")))?
                .into()
        } else {
            crate::health::parse_go_duration(value)?
        };
        cfg.insert(key.into(), json!(v));
        rest = after.trim_start();
    }
    let (word, cmd) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(w, c)| (w, c.trim()));
    let test = match word.to_ascii_uppercase().as_str() {
        "NONE" if cmd.is_empty() && cfg.is_empty() => vec!["NONE".to_owned()],
        "NONE" => invalid!("HEALTHCHECK NONE takes no arguments"),
        "CMD" if !cmd.is_empty() => match json_array(cmd) {
            Some(args) => std::iter::once("CMD".to_owned()).chain(args).collect(),
            None => vec!["CMD-SHELL".to_owned(), cmd.to_owned()],
        },
        "CMD" => invalid!("Missing command after HEALTHCHECK CMD"),
        _ => invalid!("Unknown type \"{word}\" in HEALTHCHECK (try CMD)"),
    };
    cfg.insert("Test".into(), json!(test));
    Ok(Value::Object(cfg))
}

/// The object at `key` of the config, made one if it is missing or something else.
pub(crate) fn object<'a>(cfg: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = cfg.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made an object just above"),
    }
}

fn label(cfg: &mut Map<String, Value>, rest: &str) -> Result<()> {
    let pairs = key_values(rest, "LABEL", false)?;
    let labels = object(cfg, "Labels");
    for kv in pairs {
        if let Some((k, v)) = kv.split_once('=') {
            labels.insert(k.to_owned(), json!(v));
        }
    }
    Ok(())
}

fn expose(cfg: &mut Map<String, Value>, rest: &str) -> Result<()> {
    let words = shell_words(rest)?;
    if words.is_empty() {
        invalid!("EXPOSE requires at least one argument");
    }
    let mut all = Vec::new();
    for w in words {
        all.extend(exposed_ports(&w)?);
    }
    let ports = object(cfg, "ExposedPorts");
    for p in all {
        ports.insert(p, json!({}));
    }
    Ok(())
}

fn volume(cfg: &mut Map<String, Value>, rest: &str) -> Result<()> {
    let paths = match json_array(rest) {
        Some(a) => a,
        None => shell_words(rest)?,
    };
    if paths.is_empty() || paths.iter().any(String::is_empty) {
        invalid!("VOLUME specified can not be an empty string");
    }
    let vols = object(cfg, "Volumes");
    for p in paths {
        vols.insert(p, json!({}));
    }
    Ok(())
}

fn workdir(cfg: &mut Map<String, Value>, rest: &str) -> Result<()> {
    if rest.is_empty() {
        invalid!("WORKDIR requires exactly one argument");
    }
    let dir = if rest.starts_with('/') {
        rest.to_owned()
    } else {
        let base = cfg
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("/");
        format!("{}/{rest}", base.trim_end_matches('/'))
    };
    cfg.insert("WorkingDir".into(), json!(dir));
    Ok(())
}

/// `["a", "b"]` as a list, when it is a JSON array of strings.
fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// The exec form (`["a","b"]`) or the shell form (`/bin/sh -c "..."`) of CMD/ENTRYPOINT.
fn exec_or_shell(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_owned()])
}

/// `K=V K2="v 2"` (or, for ENV only, the legacy `K value with spaces`) as `K=V` strings.
fn key_values(rest: &str, instruction: &str, legacy: bool) -> Result<Vec<String>> {
    let words = shell_words(rest)?;
    let Some(first) = words.first() else {
        invalid!("{instruction} requires at least one argument");
    };
    if !first.contains('=') {
        if !legacy {
            invalid!("{instruction} names must be followed by '=': {rest}");
        }
        let (key, value) = rest
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .ok_or_else(|| Error::Invalid("ENV must have two arguments".into()))?;
        return Ok(vec![format!("{key}={value}")]);
    }
    words
        .into_iter()
        .map(|w| {
            if w.split('=').next().is_some_and(|k| !k.is_empty()) && w.contains('=') {
                Ok(w)
            } else {
                invalid!("{instruction}: {w:?} is not NAME=VALUE")
            }
        })
        .collect()
}

/// Splits like a shell: whitespace separates, quotes group, backslash escapes.
fn shell_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => invalid!("unterminated quote in {s:?}"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => invalid!("unterminated quote in {s:?}"),
                        },
                        Some(c) => cur.push(c),
                        None => invalid!("unterminated quote in {s:?}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `80`, `80/udp`, `8000-8002/tcp` -> `["80/tcp"]`...
fn exposed_ports(spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        invalid!("invalid proto: {proto}");
    }
    let port = |s: &str| -> Result<u16> {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::Invalid(format!("invalid containerPort: {spec}")))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        invalid!("invalid port range: {spec}");
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(changes: &[&str]) -> Map<String, Value> {
        let mut cfg = Map::new();
        cfg.insert("Cmd".into(), json!(["sh"]));
        cfg.insert("Env".into(), json!(["PATH=/bin", "A=old"]));
        cfg.insert("WorkingDir".into(), json!("/srv"));
        let owned: Vec<String> = changes.iter().map(|s| (*s).to_owned()).collect();
        apply_changes(&mut cfg, &owned).unwrap();
        cfg
    }

    #[test]
    fn dockerfile_instructions_as_docker_applies_them() {
        let c = changed(&[
            r#"CMD ["echo", "hi"]"#,
            "ENV A=new B=\"two words\" C=3",
            "env D legacy form value",
            "WORKDIR app",
            "EXPOSE 80 53/udp 8000-8001",
            "USER nobody:nogroup",
            "LABEL version=1.0 \"maintainer\"=me",
            "VOLUME /data /logs",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN true",
        ]);
        assert_eq!(c["Cmd"], json!(["echo", "hi"]));
        assert_eq!(
            c["Env"],
            json!([
                "PATH=/bin",
                "A=new",
                "B=two words",
                "C=3",
                "D=legacy form value"
            ])
        );
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(c["User"], json!("nobody:nogroup"));
        assert_eq!(c["Labels"], json!({"version": "1.0", "maintainer": "me"}));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}}));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
        assert_eq!(c["OnBuild"], json!(["RUN true"]));
        // Shell form; ENTRYPOINT drops the inherited CMD unless CMD is set too.
        let c = changed(&["CMD echo $HOME"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
        let c = changed(&["ENTRYPOINT [\"/bin/cat\"]"]);
        assert_eq!(c["Entrypoint"], json!(["/bin/cat"]));
        assert_eq!(c["Cmd"], Value::Null);
        let c = changed(&["CMD [\"/etc/hosts\"]", "ENTRYPOINT [\"/bin/cat\"]"]);
        assert_eq!(c["Cmd"], json!(["/etc/hosts"]));
        let c = changed(&["WORKDIR /abs"]);
        assert_eq!(c["WorkingDir"], json!("/abs"));
    }

    #[test]
    fn healthchecks_as_docker_records_them() {
        let c = changed(&["HEALTHCHECK --interval=5s --retries=2 CMD curl -f http://x/ || exit 1"]);
        assert_eq!(
            c["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "curl -f http://x/ || exit 1"], "Interval": 5_000_000_000u64, "Retries": 2})
        );
        let c = changed(&[r#"HEALTHCHECK --timeout=1m30s CMD ["true", "x"]"#]);
        assert_eq!(
            c["Healthcheck"],
            json!({"Test": ["CMD", "true", "x"], "Timeout": 90_000_000_000u64})
        );
        let c = changed(&["healthcheck none"]);
        assert_eq!(c["Healthcheck"], json!({"Test": ["NONE"]}));
    }

    #[test]
    fn bad_instructions_are_errors() {
        for bad in [
            "RUN rm -rf /",
            "FROM scratch",
            "EXPOSE",
            "EXPOSE 99999",
            "EXPOSE 80/xyz",
            "ENV",
            "ENV A=\"unterminated",
            "LABEL novalue",
            "USER",
            "HEALTHCHECK",
            "HEALTHCHECK CMD",
            "HEALTHCHECK --interval=soon CMD true",
            "HEALTHCHECK --bogus=1 CMD true",
            "HEALTHCHECK NONE extra",
            "HEALTHCHECK RUN true",
        ] {
            let mut cfg = Map::new();
            assert!(
                apply_changes(&mut cfg, &[bad.to_owned()]).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
