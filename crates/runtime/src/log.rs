//! `--log FILE`, `--log-format text|json` and `--debug`: runc's log lines (logrus
//! shapes), which containerd's shim and conmon read errors from.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use crate::cli::Global;

/// Where log lines go.
#[derive(Debug)]
pub(crate) struct Log {
    file: Option<Mutex<File>>,
    json: bool,
    debug: bool,
}

impl Log {
    pub(crate) fn open(g: &Global) -> Result<Log, String> {
        let json = match g.log_format.as_str() {
            "json" => true,
            "text" => false,
            other => return Err(format!("unknown log-format {other:?} (text or json)")),
        };
        let file = match g.log.as_deref().filter(|p| !p.as_os_str().is_empty()) {
            None => None,
            Some(p) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("open log file {}: {e}", p.display()))?,
            )),
        };
        Ok(Log {
            file,
            json,
            debug: g.debug,
        })
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = oci_runtime::state::now_rfc3339();
        if self.json {
            let v = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{v}\n")
        } else {
            format!("time={time:?} level={level} msg={msg:?}\n")
        }
    }

    fn write(&self, level: &str, msg: &str, also_stderr: bool) {
        match &self.file {
            Some(f) => {
                let line = self.line(level, msg);
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
                if also_stderr {
                    eprintln!("mydocker-runc: {msg}");
                }
            }
            None => {
                if level == "error" {
                    eprintln!("mydocker-runc: {msg}");
                } else {
                    eprintln!("mydocker-runc: {level}: {msg}");
                }
            }
        }
    }

    /// An error: to the log file and standard error.
    pub(crate) fn error(&self, msg: &str) {
        self.write("error", msg, true);
    }

    /// A warning: to the log file, else standard error.
    pub(crate) fn warn(&self, msg: &str) {
        self.write("warning", msg, false);
    }

    /// A debug line, with `--debug` only.
    pub(crate) fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg, false);
        }
    }
}
