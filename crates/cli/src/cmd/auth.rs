//! `login` and `logout`: credentials in docker's `config.json`.

use crate::args::{LoginArgs, LogoutArgs};
use crate::ctx::Ctx;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, IsTerminal, Write};

fn server_of(server: Option<&str>) -> String {
    registry::normalize_server(server.unwrap_or("docker.io"))
}

pub(crate) fn login(ctx: &Ctx, args: &LoginArgs) -> Result<()> {
    let server = server_of(args.server.as_deref());
    let username = match &args.username {
        Some(u) => u.clone(),
        None => {
            if !std::io::stdin().is_terminal() {
                bail!("Cannot perform an interactive login from a non TTY device");
            }
            prompt("Username: ")?
        }
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            ctx.warn("Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => {
            if !std::io::stdin().is_terminal() {
                bail!("Cannot perform an interactive login from a non TTY device");
            }
            prompt("Password: ")?
        }
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password are required");
    }
    let client = ctx.engine.registry_client()?;
    let mut config = registry::DockerConfig::load_default()?;
    let creds = registry::Credentials::new(username, password);
    registry::login(&client, &mut config, &server, &creds)?;
    println!("Login Succeeded");
    Ok(())
}

fn prompt(label: &str) -> Result<String> {
    let mut out = std::io::stdout().lock();
    out.write_all(label.as_bytes())?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub(crate) fn logout(_ctx: &Ctx, args: &LogoutArgs) -> Result<()> {
    let server = server_of(args.server.as_deref());
    let mut config = registry::DockerConfig::load_default()?;
    if registry::logout(&mut config, &server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(())
}
