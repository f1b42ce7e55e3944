//! Go's text/template for docker's `--format`, on the `gotmpl` crate (a port of Go's
//! text/template: pipelines, variables, `range $k, $v := ...`, `if/else`, `with`, `index`,
//! `len`, `printf`...), with docker's own functions: `json`, `join`, `split`, `upper`,
//! `lower`, `title`, `pad`, `truncate`. Values print as Go prints them (`[a b]`,
//! `map[k:v]`, `<no value>`).
//!
//! Docker's formatting contexts have methods; the one users write, `.Label "name"` on
//! `ps`, `images`, `volume ls` and `network ls` rows, is turned into the function call
//! `label . "name"`, which reads the row's labels (the hidden `@labels` map, else the
//! `Labels` map). Keys starting with `@` are hidden: `json` leaves them out.

use anyhow::{Result, anyhow};
use gotmpl::{Template, Value as T};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The hidden key of a row's labels (a map), for `.Label "name"`.
pub(crate) const LABELS: &str = "@labels";

/// Renders `template` against `data`.
#[cfg(test)]
pub(crate) fn render(template: &str, data: &Value) -> Result<String> {
    compile(template)?.render(data)
}

/// A parsed template, for rendering many rows.
pub(crate) struct Compiled(Template);

impl Compiled {
    pub(crate) fn render(&self, data: &Value) -> Result<String> {
        self.0
            .execute_to_string(&to_template(data))
            .map_err(|e| anyhow!("{e}"))
    }
}

/// Parses `template` with docker's functions.
pub(crate) fn compile(template: &str) -> Result<Compiled> {
    check_blocks(template)?;
    let source = rewrite_label_method(template);
    let t = Template::new("")
        .func("json", |a| Ok(T::String(json_of(one(a)?).into())))
        .func("join", |a| match a {
            [T::List(items), sep] => Ok(T::String(
                items
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(&sep.to_string())
                    .into(),
            )),
            _ => Err(func_err("join", "a list and a separator")),
        })
        .func("split", |a| match a {
            [s, sep] => Ok(T::List(
                s.to_string()
                    .split(&sep.to_string())
                    .map(|p| T::String(p.into()))
                    .collect::<Vec<_>>()
                    .into(),
            )),
            _ => Err(func_err("split", "a string and a separator")),
        })
        .func("upper", |a| {
            Ok(T::String(one(a)?.to_string().to_uppercase().into()))
        })
        .func("lower", |a| {
            Ok(T::String(one(a)?.to_string().to_lowercase().into()))
        })
        .func("title", |a| {
            Ok(T::String(title(&one(a)?.to_string()).into()))
        })
        .func("pad", |a| match a {
            [s, l, r] => {
                let n = |v: &T| v.as_int().unwrap_or(0).max(0) as usize;
                let s = s.to_string();
                Ok(T::String(
                    format!("{}{s}{}", " ".repeat(n(l)), " ".repeat(n(r))).into(),
                ))
            }
            _ => Err(func_err("pad", "a string and two counts")),
        })
        .func("truncate", |a| match a {
            [s, n] => {
                let n = n.as_int().unwrap_or(0).max(0) as usize;
                Ok(T::String(
                    s.to_string().chars().take(n).collect::<String>().into(),
                ))
            }
            _ => Err(func_err("truncate", "a string and a length")),
        })
        .func("label", |a| match a {
            [dot, key] => Ok(label(dot, &key.to_string())),
            _ => Err(func_err("Label", "a label name")),
        })
        .parse(&source)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(Compiled(t))
}

fn func_err(name: &str, wants: &str) -> gotmpl::TemplateError {
    gotmpl::TemplateError::Exec(format!("{name} wants {wants}"))
}

fn one(args: &[T]) -> gotmpl::Result<&T> {
    match args {
        [v] => Ok(v),
        _ => Err(gotmpl::TemplateError::Exec(format!(
            "wrong number of args: want 1 got {}",
            args.len()
        ))),
    }
}

/// `.Label "k"` of a row: its hidden `@labels` map, else its `Labels` map.
fn label(dot: &T, key: &str) -> T {
    let T::Map(m) = dot else {
        return T::String("".into());
    };
    let labels = m.get(LABELS).or_else(|| m.get("Labels"));
    match labels {
        Some(T::Map(l)) => l.get(key).cloned().unwrap_or(T::String("".into())),
        _ => T::String("".into()),
    }
}

/// Go's deprecated `strings.Title`: the first letter of each word in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Every `if`, `range`, `with`, `define` and `block` has its `end` (the parser accepts
/// a template that stops inside one; Go's says `unexpected EOF`).
fn check_blocks(t: &str) -> Result<()> {
    let mut open = 0usize;
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break; // the parser reports the unclosed action
        };
        let action = after[..end].trim_start_matches('-').trim_start();
        let word = action
            .split(|c: char| c.is_whitespace() || c == '-')
            .next()
            .unwrap_or("");
        match word {
            "if" | "range" | "with" | "define" | "block" => open += 1,
            "end" if open == 0 => anyhow::bail!("template: unexpected {{{{end}}}}"),
            "end" => open -= 1,
            _ => {}
        }
        rest = &after[end + 2..];
    }
    if open > 0 {
        anyhow::bail!("template: unexpected EOF");
    }
    Ok(())
}

/// Turns `.Label` followed by a space (a method call with an argument) into
/// `label . `, inside actions only.
fn rewrite_label_method(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find("}}").map_or(after.len(), |e| e + 2);
        let action = &after[..end];
        let mut rewritten = String::with_capacity(action.len());
        let mut prev: Option<char> = None;
        let mut in_string = false;
        let mut i = 0;
        while i < action.len() {
            let tail = &action[i..];
            let c = tail.chars().next().unwrap_or(' ');
            if c == '"' && prev != Some('\\') {
                in_string = !in_string;
            }
            let boundary = prev.is_none_or(|p| p.is_whitespace() || matches!(p, '(' | '|' | '{'));
            if !in_string
                && boundary
                && tail.starts_with(".Label")
                && tail[6..].starts_with(char::is_whitespace)
            {
                rewritten.push_str("label .");
                i += 6;
                prev = Some('l');
                continue;
            }
            rewritten.push(c);
            prev = Some(c);
            i += c.len_utf8();
        }
        out.push_str(&rewritten);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// serde_json's value as the template's (objects become sorted maps, as Go ranges them).
pub(crate) fn to_template(v: &Value) -> T {
    match v {
        Value::Null => T::Nil,
        Value::Bool(b) => T::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => T::Int(i),
            (None, Some(u), _) => T::Uint(u),
            (_, _, Some(f)) => T::Float(f),
            _ => T::Nil,
        },
        Value::String(s) => T::String(s.as_str().into()),
        Value::Array(a) => T::List(a.iter().map(to_template).collect::<Vec<_>>().into()),
        Value::Object(o) => T::Map(Arc::new(
            o.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), to_template(v)))
                .collect::<BTreeMap<_, _>>(),
        )),
    }
}

/// The template's value back as JSON, without hidden (`@`) keys.
fn to_json(v: &T) -> Value {
    match v {
        T::Nil | T::Function(_) => Value::Null,
        T::Bool(b) => Value::Bool(*b),
        T::Int(i) => Value::from(*i),
        T::Uint(u) => Value::from(*u),
        T::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        T::String(s) => Value::String(s.to_string()),
        T::List(l) => Value::Array(l.iter().map(to_json).collect()),
        T::Map(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('@'))
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// Go's `json.Marshal`: `<`, `>` and `&` escaped as `\u003c`, `\u003e`, `\u0026`.
fn json_of(v: &T) -> String {
    go_json(&to_json(v))
}

/// JSON as Go's encoder writes it (HTML-safe escapes), hidden keys left out.
pub(crate) fn go_json(v: &Value) -> String {
    let text = serde_json::to_string(&strip_hidden(v)).unwrap_or_default();
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn strip_hidden(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('@'))
                .map(|(k, v)| (k.clone(), strip_hidden(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_hidden).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "Id": "abc",
            "State": {"Pid": 42, "Running": true, "Status": "running"},
            "Config": {"Cmd": ["sh", "-c", "x"], "Labels": {"b": "2", "a": "1"}, "Entrypoint": null,
                       "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}},
            "NetworkSettings": {"Networks": {"net1": {"IPAddress": "10.0.0.2"}, "bridge": {"IPAddress": "172.18.0.2"}}}
        })
    }

    #[test]
    fn paths_and_text() {
        let d = data();
        assert_eq!(render("{{.State.Pid}}", &d).unwrap(), "42");
        assert_eq!(
            render("pid={{.State.Pid}} {{.State.Running}}", &d).unwrap(),
            "pid=42 true"
        );
        assert_eq!(render("{{.Config.Cmd}}", &d).unwrap(), "[sh -c x]");
        assert_eq!(render("{{.Config.Labels}}", &d).unwrap(), "map[a:1 b:2]");
        assert_eq!(render("{{.Nope}}", &d).unwrap(), "<no value>");
        // A null in a map prints as Go prints a nil interface there.
        assert_eq!(render("{{.Config.Entrypoint}}", &d).unwrap(), "<no value>");
        assert_eq!(render("{{if .Config.Entrypoint}}x{{end}}", &d).unwrap(), "");
    }

    #[test]
    fn functions() {
        let d = data();
        assert_eq!(
            render("{{json .State}}", &d).unwrap(),
            r#"{"Pid":42,"Running":true,"Status":"running"}"#
        );
        assert_eq!(render(r#"{{index .Config.Labels "a"}}"#, &d).unwrap(), "1");
        assert_eq!(
            render(r#"{{join .Config.Cmd ","}}"#, &d).unwrap(),
            "sh,-c,x"
        );
        assert_eq!(render("{{upper .State.Status}}", &d).unwrap(), "RUNNING");
        assert_eq!(render("{{len .Config.Cmd}}", &d).unwrap(), "3");
        assert_eq!(
            render("{{title \"hello world\"}}", &d).unwrap(),
            "Hello World"
        );
        assert_eq!(render("{{lower \"AB\"}}", &d).unwrap(), "ab");
        assert_eq!(
            render(r#"{{range split "a,b" ","}}[{{.}}]{{end}}"#, &d).unwrap(),
            "[a][b]"
        );
        assert_eq!(
            render(r#"{{printf "%s-%d" .Id .State.Pid}}"#, &d).unwrap(),
            "abc-42"
        );
        assert_eq!(
            render(r#"{{json "<a&b>"}}"#, &d).unwrap(),
            r#""\u003ca\u0026b\u003e""#
        );
    }

    #[test]
    fn range_over_maps_and_arrays() {
        let d = data();
        assert_eq!(
            render(
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                &d
            )
            .unwrap(),
            "172.18.0.2 10.0.0.2 "
        );
        assert_eq!(
            render("{{range .Config.Cmd}}<{{.}}>{{end}}", &d).unwrap(),
            "<sh><-c><x>"
        );
    }

    #[test]
    fn variables_conditions_and_pipelines() {
        let d = data();
        assert_eq!(
            render("{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}", &d).unwrap(),
            "443/tcp 80/tcp "
        );
        assert_eq!(
            render(
                "{{range $n, $c := .NetworkSettings.Networks}}{{$n}}={{$c.IPAddress}};{{end}}",
                &d
            )
            .unwrap(),
            "bridge=172.18.0.2;net1=10.0.0.2;"
        );
        assert_eq!(
            render("{{if .State.Running}}up{{else}}down{{end}}", &d).unwrap(),
            "up"
        );
        assert_eq!(
            render("{{with .Config.Labels}}{{.a}}{{end}}", &d).unwrap(),
            "1"
        );
        assert_eq!(render("{{.State.Status | upper}}", &d).unwrap(), "RUNNING");
        assert_eq!(
            render("{{$id := .Id}}{{range .Config.Cmd}}{{$id}}{{end}}", &d).unwrap(),
            "abcabcabc"
        );
        assert_eq!(
            render(r#"{{if eq .State.Status "running"}}yes{{end}}"#, &d).unwrap(),
            "yes"
        );
    }

    #[test]
    fn label_method() {
        let row = json!({"Labels": "a=1", LABELS: {"a": "1", "x.y": "z"}});
        assert_eq!(render(r#"{{.Label "x.y"}}"#, &row).unwrap(), "z");
        assert_eq!(render(r#"{{.Label "none"}}"#, &row).unwrap(), "");
        assert_eq!(
            render(r#"{{ .Label "a" }}|{{.Labels}}"#, &row).unwrap(),
            "1|a=1"
        );
        assert_eq!(
            render(r#"{{json .}}"#, &row).unwrap(),
            r#"{"Labels":"a=1"}"#
        );
        assert_eq!(
            rewrite_label_method(r#"{{.Labels}} .Label "x""#),
            r#"{{.Labels}} .Label "x""#
        );
    }

    #[test]
    fn errors() {
        let d = data();
        assert!(render("{{.State", &d).is_err());
        assert!(render("{{range .Config.Cmd}}x", &d).is_err());
        assert!(render("{{end}}", &d).is_err());
        assert!(render("{{bogus .Id}}", &d).is_err());
    }
}
