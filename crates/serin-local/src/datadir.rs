//! The data directory: the database, pod logs, and the two files that let a CLI on the same
//! machine find the server without flags (`server.json` with its addresses, `token` with the
//! bearer token for writes, readable by the owner only).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `$SERIN_DATA_DIR`, else `$XDG_STATE_HOME/serin`, else `~/.local/state/serin`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SERIN_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")));
    state.unwrap_or_else(std::env::temp_dir).join("serin")
}

/// What a running server tells its clients.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ServerInfo {
    /// `http://127.0.0.1:3100`
    pub api: String,
    /// Entry point name -> the address it listens on.
    pub entrypoints: BTreeMap<String, String>,
    pub pid: u32,
}

pub fn info_path(dir: &Path) -> PathBuf {
    dir.join("server.json")
}

pub fn token_path(dir: &Path) -> PathBuf {
    dir.join("token")
}

/// Creates the directory if needed (readable by its owner only, like everything serin writes
/// in it) and checks that it is writable, with one clear error. A directory that exists keeps
/// its mode: it may be shared with other files.
pub fn prepare(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir.join("logs"))
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").with_context(|| format!("the data directory {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// The token for writes: reused when present, else created (mode 0600).
pub fn ensure_token(dir: &Path) -> Result<String> {
    let path = token_path(dir);
    if let Some(token) = std::fs::read_to_string(&path).ok().filter(|t| !t.trim().is_empty()) {
        return Ok(token.trim().to_string());
    }
    let token = random_token()?;
    write_private(&path, &token)?;
    Ok(token)
}

fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the API token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn write_info(dir: &Path, info: &ServerInfo) -> Result<()> {
    write_private(&info_path(dir), &serde_json::to_string_pretty(info)?)
}

/// Writes this process's id into the lock file it holds (`server.lock`), so a CLI started
/// right after `serin server &` knows a server is on its way before `server.json` is written.
pub fn record_starting_server(lock: &mut std::fs::File) -> Result<()> {
    use std::io::Write;
    lock.set_len(0)?;
    write!(lock, "{}", std::process::id())?;
    Ok(())
}

/// The id of the live process that last took the data directory's lock: a server that runs,
/// or is starting. `None` when there is none (or it has exited).
pub fn server_pid(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join("server.lock")).ok()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

pub fn read_info(dir: &Path) -> Result<ServerInfo> {
    let path = info_path(dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no serin server found: {} is missing (start one with `serin server`, or pass --server)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_data_directory_and_its_files_are_the_owners_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("state/serin");
        prepare(&dir).unwrap();
        ensure_token(&dir).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&dir.join("logs")), mode(&token_path(&dir))), (0o700, 0o700, 0o600));
    }
}
