//! `mydocker`: a daemonless, Docker-compatible container tool.

fn main() {
    eprintln!("mydocker: not implemented yet");
    std::process::exit(125);
}
