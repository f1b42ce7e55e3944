//! `images --filter/--format` and the uncompressed SIZE, `history`, `diff`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;

fn sorted(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn images_filters_formats_history_and_diff() {
    let env = Env::new("imgfmt");
    let md = &env.md;
    let busybox = env.image.clone();
    md.ok(&[
        "run",
        "--name",
        "src",
        "--cgroup-parent",
        &env.cg.name,
        &busybox,
        "sh",
        "-c",
        "echo new > /new.txt && echo changed >> /etc/passwd && rm /bin/cat && mkdir /made",
    ]);
    // diff: A/C/D from the writable layer against the image.
    let diff = md.ok(&["diff", "src"]);
    for want in [
        "A /new.txt",
        "C /etc/passwd",
        "C /etc",
        "D /bin/cat",
        "A /made",
    ] {
        assert!(diff.lines().any(|l| l == want), "{want} not in:\n{diff}");
    }
    assert!(!diff.lines().any(|l| l.ends_with(" /")), "{diff}");
    let (code, _) = md.fails(&["diff", "nosuch"]);
    assert_eq!(code, 1);

    md.ok(&[
        "commit",
        "-m",
        "first commit",
        "--change",
        "LABEL stage=one",
        "src",
        "mine:one",
    ]);
    md.ok(&["commit", "--change", "LABEL stage=two", "src", "other:two"]);
    let dangling_id = md.ok(&["commit", "src"]).trim().to_owned();
    let fmt = ["--format", "{{.Repository}}:{{.Tag}}"];
    let list = |extra: &[&str]| {
        let mut a = vec!["images"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&fmt);
        sorted(&md.ok(&a))
    };
    // reference with globs and tags; several references are alternatives.
    assert_eq!(list(&["--filter", "reference=mine"]), ["mine:one"]);
    assert_eq!(list(&["-f", "reference=m*"]), ["mine:one"]);
    assert_eq!(list(&["-f", "reference=*:two"]), ["other:two"]);
    assert_eq!(
        list(&["-f", "reference=mine", "-f", "reference=other"]),
        ["mine:one", "other:two"]
    );
    assert_eq!(list(&["mine"]), ["mine:one"]);
    // dangling and labels.
    assert_eq!(list(&["-f", "dangling=true"]), ["<none>:<none>"]);
    assert!(!list(&["-f", "dangling=false"]).contains(&"<none>:<none>".to_owned()));
    assert_eq!(list(&["-f", "label=stage=two"]), ["other:two"]);
    assert_eq!(list(&["-f", "label=stage"]).len(), 2);
    // before/since: the fixture is older than the commits.
    let before = list(&["-f", "before=mine:one"]);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0], busybox);
    let since = list(&["-f", &format!("since={busybox}")]);
    assert!(since.contains(&"mine:one".to_owned()), "{since:?}");
    assert!(!since.contains(&busybox), "{since:?}");
    let (code, err) = md.fails(&["images", "-f", "bogus=1"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid filter 'bogus'"), "{err}");
    let (code, _) = md.fails(&["images", "-f", "before=no-such-image"]);
    assert_eq!(code, 1);

    // Formats: table with docker's titles, json lines, label methods.
    let table = md.ok(&[
        "images",
        "-f",
        "reference=mine",
        "--format",
        "table {{.Repository}}\t{{.Tag}}\t{{.Size}}",
    ]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "SIZE"]);
    assert!(lines.next().unwrap().starts_with("mine"));
    let json = md.ok(&["images", "-f", "reference=mine", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Repository"], "mine");
    assert_eq!(v["Tag"], "one");
    assert_eq!(v["Labels"], "stage=one");
    assert_eq!(
        md.ok(&[
            "images",
            "-f",
            "reference=other",
            "--format",
            r#"{{.Label "stage"}}"#
        ])
        .trim(),
        "two"
    );
    // SIZE is the uncompressed size: more than the compressed blobs add up to.
    let shown = md.ok(&["images", "--format", "{{.Size}}", &busybox]);
    let compressed: u64 = md
        .ok(&["image", "inspect", "--format", "{{.Size}}", &busybox])
        .trim()
        .parse()
        .unwrap();
    let shown_bytes = parse_size(shown.trim());
    assert!(
        shown_bytes > compressed as f64 * 1.2,
        "{shown} vs {compressed} compressed"
    );

    // history: newest first, the commit's comment, <missing> below the top.
    let hist = md.ok(&["history", "mine:one"]);
    let mut lines = hist.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("IMAGE") && header.contains("CREATED BY") && header.contains("COMMENT"),
        "{header}"
    );
    let top = lines.next().unwrap();
    assert!(top.contains("first commit"), "{hist}");
    let ids = md.ok(&["history", "-q", "mine:one"]);
    let ids: Vec<&str> = ids.lines().collect();
    let mine_id = md.ok(&["images", "-q", "mine:one"]).trim().to_owned();
    assert_eq!(ids[0], mine_id);
    assert!(
        ids[1..].iter().all(|i| *i == "<missing>" || i.len() == 12),
        "{ids:?}"
    );
    let full = md.ok(&["history", "-q", "--no-trunc", "mine:one"]);
    assert!(
        full.lines().next().unwrap().starts_with("sha256:"),
        "{full}"
    );
    let formatted = md.ok(&["history", "--format", "{{.Comment}}|{{.Size}}", "mine:one"]);
    assert!(
        formatted
            .lines()
            .next()
            .unwrap()
            .starts_with("first commit|"),
        "{formatted}"
    );
    // commit -a/-m show in inspect.
    md.ok(&[
        "commit",
        "-a",
        "Jane <jane@example.com>",
        "-m",
        "second",
        "src",
        "mine:two",
    ]);
    assert_eq!(
        md.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Author}}|{{.Comment}}",
            "mine:two"
        ])
        .trim(),
        "Jane <jane@example.com>|second"
    );
    md.ok(&["rmi", "mine:two"]);
    let (code, err) = md.fails(&["history", "no-such-image"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such image"), "{err}");

    md.ok(&["rm", "src"]);
    md.ok(&["rmi", "mine:one", "other:two", &dangling_id]);
    env.assert_clean();
}

/// `1.98MB`, `512kB`, `20B` as bytes.
fn parse_size(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        u => panic!("unit {u}"),
    }
}
