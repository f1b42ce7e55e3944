//! A small subset of Go's text/template, enough for docker's `--format` over inspect JSON:
//! text, `{{.A.B}}`, `{{json .A}}`, `{{index .A "k"}}`, `{{join .A ","}}`, `{{upper .A}}`,
//! `{{lower .A}}`, `{{len .A}}`, and `{{range .A}}...{{end}}` (with `.` bound to each
//! element). Values print as Go prints them (`[a b]`, `map[k:v]`, `<no value>`).

use anyhow::{Result, bail};
use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Node {
    Text(String),
    Action(Vec<Arg>),
    Range(Vec<Arg>, Vec<Node>),
}

#[derive(Debug, PartialEq, Clone)]
enum Arg {
    /// `.A.B` (empty path = `.`).
    Path(Vec<String>),
    Str(String),
    Ident(String),
}

/// Renders `template` against `data`.
pub(crate) fn render(template: &str, data: &Value) -> Result<String> {
    let tokens = lex(template)?;
    let mut pos = 0;
    let nodes = parse(&tokens, &mut pos, false)?;
    let mut out = String::new();
    exec(&nodes, data, &mut out)?;
    Ok(out)
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(t: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            toks.push(Tok::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("template: unclosed action in {t:?}");
        };
        toks.push(Tok::Action(after[..end].trim().to_owned()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        toks.push(Tok::Text(rest.to_owned()));
    }
    Ok(toks)
}

fn parse(toks: &[Tok], pos: &mut usize, in_range: bool) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let tok = &toks[*pos];
        *pos += 1;
        match tok {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a) if a == "end" => {
                if in_range {
                    return Ok(nodes);
                }
                bail!("template: unexpected {{{{end}}}}");
            }
            Tok::Action(a) => {
                let args = words(a)?;
                if args.first() == Some(&Arg::Ident("range".into())) {
                    let body = parse(toks, pos, true)?;
                    nodes.push(Node::Range(args[1..].to_vec(), body));
                } else {
                    nodes.push(Node::Action(args));
                }
            }
        }
    }
    if in_range {
        bail!("template: missing {{{{end}}}}");
    }
    Ok(nodes)
}

fn words(action: &str) -> Result<Vec<Arg>> {
    let mut args = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => {
                        if let Some(n) = chars.next() {
                            s.push(match n {
                                'n' => '\n',
                                't' => '\t',
                                o => o,
                            });
                        }
                    }
                    Some(ch) => s.push(ch),
                    None => bail!("template: unterminated string in {action:?}"),
                }
            }
            args.push(Arg::Str(s));
        } else {
            let mut w = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                w.push(ch);
                chars.next();
            }
            if let Some(path) = w.strip_prefix('.') {
                let parts = path
                    .split('.')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                args.push(Arg::Path(parts));
            } else {
                args.push(Arg::Ident(w));
            }
        }
    }
    if args.is_empty() {
        bail!("template: empty action");
    }
    Ok(args)
}

fn lookup<'a>(data: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = data;
    for p in path {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

fn arg_value(a: &Arg, data: &Value) -> Result<Value> {
    Ok(match a {
        Arg::Path(p) => lookup(data, p).cloned().unwrap_or(Value::Null),
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Ident(i) => bail!("template: unexpected {i:?}"),
    })
}

fn eval(args: &[Arg], data: &Value) -> Result<Value> {
    let Some(first) = args.first() else {
        bail!("template: empty action");
    };
    let Arg::Ident(func) = first else {
        if args.len() > 1 {
            bail!("template: too many arguments");
        }
        if let Arg::Path(p) = first
            && lookup(data, p).is_none()
            && !p.is_empty()
        {
            // Go prints <no value> for a missing map key.
            return Ok(Value::String("<no value>".into()));
        }
        return arg_value(first, data);
    };
    let vals: Vec<Value> = args[1..]
        .iter()
        .map(|a| arg_value(a, data))
        .collect::<Result<_>>()?;
    Ok(match (func.as_str(), vals.as_slice()) {
        ("json", [v]) => Value::String(serde_json::to_string(v)?),
        ("index", [v, Value::String(k)]) => v.get(k).cloned().unwrap_or(Value::Null),
        ("index", [v, Value::Number(n)]) => n
            .as_u64()
            .and_then(|i| v.get(i as usize))
            .cloned()
            .unwrap_or(Value::Null),
        ("join", [Value::Array(a), Value::String(sep)]) => {
            Value::String(a.iter().map(go_string).collect::<Vec<_>>().join(sep))
        }
        ("upper", [v]) => Value::String(go_string(v).to_uppercase()),
        ("lower", [v]) => Value::String(go_string(v).to_lowercase()),
        ("len", [Value::Array(a)]) => Value::from(a.len()),
        ("len", [Value::Object(o)]) => Value::from(o.len()),
        ("len", [Value::String(s)]) => Value::from(s.len()),
        ("println", vs) => {
            Value::String(vs.iter().map(go_string).collect::<Vec<_>>().join(" ") + "\n")
        }
        (f, _) => bail!("template: function {f:?} not defined or wrong arguments"),
    })
}

fn exec(nodes: &[Node], data: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(args) => out.push_str(&go_string(&eval(args, data)?)),
            Node::Range(args, body) => match eval(args, data)? {
                Value::Array(items) => {
                    for item in &items {
                        exec(body, item, out)?;
                    }
                }
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    for k in keys {
                        exec(body, &map[k], out)?;
                    }
                }
                Value::Null => {}
                other => bail!("template: range can't iterate over {other}"),
            },
        }
    }
    Ok(())
}

/// Formats a value as Go's fmt prints it with `%v`.
fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_string(&o[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
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
            "Config": {"Cmd": ["sh", "-c", "x"], "Labels": {"b": "2", "a": "1"}, "Entrypoint": null},
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
        assert_eq!(render("{{.Config.Entrypoint}}", &d).unwrap(), "<nil>");
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
    fn errors() {
        let d = data();
        assert!(render("{{.State", &d).is_err());
        assert!(render("{{range .Config.Cmd}}x", &d).is_err());
        assert!(render("{{end}}", &d).is_err());
        assert!(render("{{bogus .Id}}", &d).is_err());
    }
}
