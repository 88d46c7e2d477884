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
        match open_in_browser(&url) {
            Some(browser) => eprintln!("opened in {browser}"),
            None => {
                eprintln!("no browser found ($BROWSER, xdg-open, sensible-browser, open): open the address yourself")
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the first browser launcher found on PATH with `url`; returns its name.
fn open_in_browser(url: &str) -> Option<String> {
    let from_env = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let candidates =
        from_env.into_iter().chain(["xdg-open", "sensible-browser", "x-www-browser", "open"].map(String::from));
    candidates.into_iter().find(|program| {
        on_path(program)
            && Command::new(program)
                .arg(url)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .is_ok()
    })
}

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
