//! Real git servers on loopback for the GitOps tests: a repository pushed to with the git
//! binary, served by `git daemon` (git://), by `git http-backend` behind a small HTTP/1.1
//! CGI server (http://), or read directly (file://).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A bare repository `argo-demo.git` under `root`, and a working clone that pushes to it.
pub struct Repo {
    pub root: tempfile::TempDir,
    pub work: PathBuf,
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=serin", "-c", "user.email=serin@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Repo {
    /// A repository whose first commit holds `files` (path, text).
    pub fn new(files: &[(&str, &str)]) -> Repo {
        let root = tempfile::tempdir().unwrap();
        git(root.path(), &["init", "-q", "--bare", "argo-demo.git"]);
        let work = root.path().join("work");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "-q"]);
        git(&work, &["remote", "add", "origin", root.path().join("argo-demo.git").to_str().unwrap()]);
        let repo = Repo { root, work };
        for (path, text) in files {
            repo.write(path, text);
        }
        repo.commit_and_push("add argorollout-canary");
        repo
    }

    pub fn bare(&self) -> PathBuf {
        self.root.path().join("argo-demo.git")
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    pub fn write(&self, path: &str, text: &str) {
        let path = self.work.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.work.join(path)).unwrap()
    }

    pub fn remove(&self, path: &str) {
        git(&self.work, &["rm", "-q", path]);
    }

    /// `git add . && git commit -m MESSAGE && git push`; returns the commit id.
    pub fn commit_and_push(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-qm", message]);
        git(&self.work, &["push", "-q", "origin", "HEAD:main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Rewrites the last commit and force-pushes it; returns the new commit id.
    pub fn amend_and_force_push(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "--amend", "-m", message]);
        git(&self.work, &["push", "-q", "--force", "origin", "HEAD:main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `git daemon` serving every repository under a directory; stopped on drop.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn serve(root: &Path) -> GitDaemon {
        let port = free_port();
        // git-daemon itself, not `git daemon`: the `git` wrapper would run it as a child of
        // its own, which killing the wrapper leaves behind.
        let exec_path = Command::new("git").arg("--exec-path").output().expect("git is needed").stdout;
        let daemon = Path::new(String::from_utf8_lossy(&exec_path).trim()).join("git-daemon");
        let child = Command::new(daemon)
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1", &format!("--port={port}")])
            .arg(format!("--base-path={}", root.display()))
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon (Debian's git package) is needed");
        wait_for_port(port);
        GitDaemon { child, port }
    }

    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/argo-demo.git", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Git's smart HTTP protocol: an HTTP/1.1 server on loopback that runs `git http-backend`
/// as a CGI program for each request (one request per connection). Runs until the test ends.
pub struct GitHttp {
    pub port: u16,
}

impl GitHttp {
    pub fn serve(root: &Path) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = serve_cgi(stream, &root);
                });
            }
        });
        GitHttp { port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/argo-demo.git", self.port)
    }
}

fn serve_cgi(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("GET").to_string(), parts.next().unwrap_or("/").to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("content-length").and_then(|l| l.parse().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default());
    if let Some(protocol) = header("git-protocol") {
        cgi.env("GIT_PROTOCOL", protocol);
    }
    let mut child = cgi.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    child.stdin.take().unwrap().write_all(&body)?;
    let output = child.wait_with_output()?;
    let split = output.stdout.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let split = split.or_else(|| output.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (head, content) = match split {
        Some((i, n)) => (String::from_utf8_lossy(&output.stdout[..i]).to_string(), &output.stdout[i + n..]),
        None => (String::new(), &output.stdout[..]),
    };
    let mut status = "200 OK".to_string();
    let mut response = Vec::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => status = value.trim().to_string(),
            Some(_) => response.extend_from_slice(format!("{line}\r\n").as_bytes()),
            None => {}
        }
    }
    let mut stream = stream;
    write!(stream, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", content.len())?;
    stream.write_all(&response)?;
    stream.write_all(b"\r\n")?;
    stream.write_all(content)?;
    stream.flush()
}

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

pub fn example(path: &str) -> String {
    std::fs::read_to_string(format!("{EXAMPLES}/{path}")).unwrap()
}

/// The seed's repository: `argorollout-canary/` with its three files.
pub fn seed_repo() -> Repo {
    let files: Vec<(String, String)> = ["rollout.yaml", "service.yaml", "ingress.yaml"]
        .iter()
        .map(|f| (format!("argorollout-canary/{f}"), example(&format!("argo-demo/argorollout-canary/{f}"))))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    Repo::new(&files)
}

/// The seed's `canary.yaml` with its repoURL pointed at `url`.
pub fn seed_application(url: &str) -> String {
    example("canary.yaml").replace("http://gitlab.local.com/devops/argo-demo.git", url)
}
