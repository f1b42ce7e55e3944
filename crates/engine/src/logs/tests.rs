//! Tests of the json-file log.

use super::*;

fn lines(p: &Path) -> Vec<Entry> {
    read_all(p, &ReadOpts::default()).unwrap()
}

#[test]
fn lines_become_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c-json.log");
    let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
    w.write(Stream::Stdout, b"hel").unwrap();
    w.write(Stream::Stderr, b"oops\n").unwrap();
    w.write(Stream::Stdout, b"lo\nwor").unwrap();
    w.write(Stream::Stdout, b"ld").unwrap();
    w.flush_partial().unwrap();
    let e = lines(&p);
    let got: Vec<(&str, Stream)> = e.iter().map(|e| (e.log.as_str(), e.stream)).collect();
    assert_eq!(
        got,
        [
            ("oops\n", Stream::Stderr),
            ("hello\n", Stream::Stdout),
            ("world", Stream::Stdout)
        ]
    );
    let raw = std::fs::read_to_string(&p).unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(first["stream"], "stderr");
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn long_lines_are_split_like_docker() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
    w.write(Stream::Stdout, &vec![b'x'; MAX_ENTRY + 10])
        .unwrap();
    w.flush_partial().unwrap();
    let e = lines(&p);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].log.len(), MAX_ENTRY);
    assert_eq!(e[1].log.len(), 10);
}

#[test]
fn rotation_keeps_max_file_generations() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    let opts = LogOpts::parse(&["max-size=1k".into(), "max-file=3".into()]).unwrap();
    let mut w = LogWriter::open(&p, opts).unwrap();
    for i in 0..200 {
        w.write(Stream::Stdout, format!("line {i:04}\n").as_bytes())
            .unwrap();
    }
    assert!(std::fs::metadata(&p).unwrap().len() <= 1024);
    assert!(rotated(&p, 2).exists());
    assert!(!rotated(&p, 3).exists());
    let e = lines(&p);
    // The newest entries survive, in order, ending with the last one written.
    assert_eq!(e.last().unwrap().log, "line 0199\n");
    let nums: Vec<u32> = e.iter().map(|e| e.log[5..9].parse().unwrap()).collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
    assert!(nums.len() < 200);
}

#[test]
fn max_file_one_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    let opts = LogOpts::parse(&["max-size=200".into()]).unwrap();
    let mut w = LogWriter::open(&p, opts).unwrap();
    for i in 0..50 {
        w.write(Stream::Stdout, format!("{i}\n").as_bytes())
            .unwrap();
    }
    assert!(std::fs::metadata(&p).unwrap().len() <= 200);
    assert_eq!(lines(&p).last().unwrap().log, "49\n");
}

#[test]
fn tail() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
    w.write(Stream::Stdout, b"a\nb\nc\n").unwrap();
    let opts = ReadOpts {
        tail: Some(2),
        ..Default::default()
    };
    let e = read_all(&p, &opts).unwrap();
    let logs: Vec<&str> = e.iter().map(|e| e.log.as_str()).collect();
    assert_eq!(logs, ["b\n", "c\n"]);
    assert!(e[0].time.starts_with("20"));
}

#[test]
fn read_upto_leaves_later_entries_to_follow() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c-json.log");
    let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
    w.write(Stream::Stdout, b"before\n").unwrap();
    let offset = current_len(&p);
    w.write(Stream::Stderr, b"after\n").unwrap();
    let e = read_upto(&p, &ReadOpts::default(), offset).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].log, "before\n");
    let mut seen = Vec::new();
    follow(&p, offset, &ReadOpts::default(), &mut || true, &mut |e| {
        seen.push((e.stream, e.log.clone()));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, [(Stream::Stderr, "after\n".to_owned())]);
}

#[test]
fn since_filters_old_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    std::fs::write(
        &p,
        "{\"log\":\"old\\n\",\"stream\":\"stdout\",\"time\":\"2020-01-01T00:00:00.000000000Z\"}\n\
         {\"log\":\"new\\n\",\"stream\":\"stdout\",\"time\":\"2030-01-01T00:00:00.000000000Z\"}\n",
    )
    .unwrap();
    let opts = ReadOpts {
        since: Some(parse_time_arg("2025-01-01T00:00:00Z", SystemTime::now()).unwrap()),
        ..Default::default()
    };
    let e = read_all(&p, &opts).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].log, "new\n");
    let now = SystemTime::now();
    assert!(parse_time_arg("10m", now).unwrap() < now);
    assert!(parse_time_arg("yesterday-ish", now).is_err());
}

#[test]
fn follow_sees_appended_lines_until_done() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
    w.write(Stream::Stdout, b"first\n").unwrap();
    let start = current_len(&p);
    w.write(Stream::Stdout, b"second\n").unwrap();
    let mut polls = 0;
    let mut done = || {
        polls += 1;
        if polls == 2 {
            w.write(Stream::Stdout, b"third\n").unwrap();
        }
        polls >= 3
    };
    let mut out = String::new();
    follow(&p, start, &ReadOpts::default(), &mut done, &mut |e| {
        out.push_str(&e.log);
        Ok(())
    })
    .unwrap();
    assert_eq!(out, "second\nthird\n");
}
