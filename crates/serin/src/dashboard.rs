//! `serin dashboard`: the address of the server's web dashboard (its API address plus `/ui/`),
//! found like every client command finds the server; `--open` hands it to a browser.

use crate::client::{Client, ClientOptions, encode};
use anyhow::{Result, bail};
use std::process::{Command, ExitCode, Stdio};

pub fn run(options: &ClientOptions, open: bool, with_token: bool) -> Result<ExitCode> {
    let client = Client::connect(options)?;
    client.get_bytes("/healthz")?;
    let mut url = format!("{}/ui/", client.base());
    if with_token {
        let Some(token) = client.token() else {
            bail!("no API token: run this on the server's machine with the same data dir, or pass --token");
        };
        // The fragment stays in the browser: the page keeps the token for this tab and drops it
        // from the address bar.
        url.push_str(&format!("#token={}", encode(token)));
    }
    println!("{url}");
    if open {
        eprintln!("{}", open_in_browser(&url));
    }
    Ok(ExitCode::SUCCESS)
}

/// Hands `url` to `$BROWSER`, else the first desktop launcher on PATH, and says what came of
/// it. Without `$BROWSER` the launchers need a display, so without one nothing is started.
/// A launcher that exits with an error within two seconds (xdg-open with no browser set up)
/// did not open it; one still running then, or that exited 0, did.
fn open_in_browser(url: &str) -> String {
    let from_env = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let display = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if from_env.is_none() && !display && cfg!(target_os = "linux") {
        return "no display ($DISPLAY and $WAYLAND_DISPLAY are unset) and no $BROWSER: open the address yourself"
            .to_string();
    }
    let launchers = ["xdg-open", "sensible-browser", "x-www-browser", "open"].map(String::from);
    let mut failures = Vec::new();
    for program in from_env.into_iter().chain(launchers).filter(|p| on_path(p)) {
        let child =
            Command::new(&program).arg(url).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let outcome = child.map_err(|e| e.to_string()).and_then(|mut child| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                match child.try_wait().map_err(|e| e.to_string())? {
                    Some(status) if status.success() => return Ok(()),
                    Some(status) => return Err(status.to_string()),
                    None if std::time::Instant::now() >= deadline => return Ok(()),
                    None => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        match outcome {
            Ok(()) => return format!("opened in {program}"),
            Err(why) => failures.push(format!("{program} failed ({why})")),
        }
    }
    if failures.is_empty() {
        "no browser found ($BROWSER, xdg-open, sensible-browser, x-www-browser, open): open the address yourself"
            .to_string()
    } else {
        format!("{}: open the address yourself", failures.join(", "))
    }
}

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
