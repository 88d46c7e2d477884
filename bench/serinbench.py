"""What serin's benchmarks share: a `serin server` in a scratch data dir running the seed (or a
variant of it), and nginx and HAProxy pointed at the same pods, configured as alike as they
allow (one worker, no access log, keep-alive pools to the pods)."""
import json, os, shutil, subprocess, tempfile, time, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# SERIN_BENCH_BINARY measures another build (a saved one of an earlier commit, for before/after).
SERIN = os.environ.get("SERIN_BENCH_BINARY") or os.path.join(ROOT, "target/release/serin")
SEED = os.path.join(ROOT, "examples/argo-demo/argorollout-canary")
HOST = "canary.myapp.com"


def get(url, timeout=5):
    return urllib.request.urlopen(url, timeout=timeout).read().decode()


class Serin:
    """A serin server with its own data dir; `cpu` pins it (taskset) to one core."""

    def __init__(self, cpu=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="serin-bench-")
        self.env = dict(os.environ, SERIN_DATA_DIR=os.path.join(self.dir, "data"), **(env or {}))
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.procs = []
        self.server = self.start([*pin, SERIN, "server", "--api", "127.0.0.1:0", "--entrypoint", "web=127.0.0.1:0"], "server", env=self.env)
        info = os.path.join(self.dir, "data", "server.json")
        while not os.path.exists(info):
            time.sleep(0.05)
        time.sleep(0.1)
        info = json.load(open(info))
        self.pid, self.api, self.web = int(info["pid"]), info["api"], info["entrypoints"]["web"]

    def start(self, args, log, **kw):
        """A helper process stopped with the server."""
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, log + ".log"), "a"), **kw)
        self.procs.append(p)
        return p

    def serin(self, *args):
        return subprocess.run([SERIN, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def apply_text(self, files):
        """Applies {file name: YAML text}, as `serin apply -f DIR` would."""
        folder = tempfile.mkdtemp(dir=self.dir)
        for name, text in files.items():
            open(os.path.join(folder, name), "w").write(text)
        self.serin("apply", "-f", folder)

    def tree(self, name="canary-rollout"):
        return json.loads(get(f"{self.api}/api/v1/rollouts/default/{name}/tree"))

    def status(self, name="canary-rollout"):
        return self.tree(name)["rollout"].get("status", {})

    def wait(self, what, check, timeout=120, name="canary-rollout"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.status(name)
            if check(status):
                return status
            time.sleep(0.02)
        raise SystemExit(f"timed out waiting for {what}; status {json.dumps(self.status(name))}")

    def pods(self, name="canary-rollout"):
        """(pod-template-hash, port, pid) of every pod of a rollout."""
        return [(p["metadata"]["labels"]["rollouts-pod-template-hash"], int(p["metadata"]["annotations"]["serin.dev/port"]),
                 int(p["metadata"]["annotations"]["serin.dev/pid"])) for p in self.tree(name)["pods"]]

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def at_step_one(bench, extra=None):
    """Applies the seed (and `extra` files), updates it to v2, waits for the pause at step 1
    (90/10) and holds the rollout there; moves the pods to core 1, beside wrk, so the proxies have core 0 alone. Returns
    (status, stable ports, canary ports, pods)."""
    bench.apply_text({**{name: seed(name) for name in ("service.yaml", "ingress.yaml", "rollout.yaml")}, **(extra or {})})
    bench.wait("v1 healthy", lambda s: s.get("phase") == "Healthy" and s.get("availableReplicas") == 10)
    bench.serin("set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2")
    status = bench.wait("step 1", lambda s: s.get("currentStepIndex") == 1 and s.get("phase") == "Paused")
    # The seed's pause at step 1 lasts 5 minutes; a bench may run longer, and must not see the
    # rollout move on to 30% (new pods) halfway: held here as `kubectl argo rollouts pause` holds it.
    bench.serin("pause", "canary-rollout")
    pods = bench.pods()
    for _, _, pid in pods:
        subprocess.run(["taskset", "-p", "-c", "1", str(pid)], check=True, capture_output=True)
    stable = [port for h, port, _ in pods if h != status["currentPodHash"]]
    canary = [port for h, port, _ in pods if h == status["currentPodHash"]]
    return status, stable, canary, pods


# On two cores, wrk and the pods on core 1 are the limit if the proxies get all of core 0, and
# no proxy saturates its core. So each proxy gets the same CPU quota (half of core 0, by a
# cgroup v1 CFS quota): then the proxy is the bottleneck and req/s measures the proxy.
QUOTA = 0.5
CGROUP = "/sys/fs/cgroup/cpu/serin-bench-proxy"


def limit(*pids):
    """Puts processes (all their threads; processes they start later too) under the proxies'
    CPU quota."""
    os.makedirs(CGROUP, exist_ok=True)
    open(f"{CGROUP}/cpu.cfs_period_us", "w").write("10000")  # short periods: throttling adds ms, not 50 ms
    open(f"{CGROUP}/cpu.cfs_quota_us", "w").write(str(int(QUOTA * 10000)))
    for pid in pids:
        open(f"{CGROUP}/cgroup.procs", "w").write(str(pid))


def children(pid):
    """The processes a process started (its direct children)."""
    return [int(c) for task in os.listdir(f"/proc/{pid}/task") for c in open(f"/proc/{pid}/task/{task}/children").read().split()]


def stat_ticks(path, reaped=False):
    """(name, CPU ticks) from a /proc stat file (a process's or one thread's): user and system
    time, and with `reaped` that of ended children the process has waited for."""
    text = open(path).read()
    fields = text.rsplit(")", 1)[1].split()
    return text[text.index("(") + 1:text.rindex(")")], sum(int(f) for f in fields[11:15 if reaped else 13])


def cpu_ticks(pid, with_children=True):
    """CPU time of a process and, for nginx and HAProxy, their workers (running, and ended ones
    the process has reaped); serin's children are its pods and do not count."""
    ticks = stat_ticks(f"/proc/{pid}/stat", reaped=with_children)[1]
    for child in children(pid) if with_children else []:
        try:
            ticks += cpu_ticks(child)
        except FileNotFoundError:
            pass
    return ticks


def seed(name):
    return open(os.path.join(SEED, name)).read()


def with_steps(rollout, steps, replicas=None):
    """The seed's Rollout with other steps (YAML list items under `steps:`) and replica count."""
    head, rest = rollout.split("      steps:", 1)
    tail = rest[rest.index("\n  revisionHistoryLimit"):] if "\n  revisionHistoryLimit" in rest else ""
    text = head + "      steps:\n" + "".join(f"      - {s}\n" for s in steps) + tail.lstrip("\n")
    return text.replace("  replicas: 10", f"  replicas: {replicas}") if replicas else text


def nginx(bench, port, servers, cpu=None, tls=None):
    """nginx with one worker, no access log, a keep-alive pool; `servers` is [(port, weight)];
    `tls` is (certificate, key) files to terminate TLS with."""
    upstream = "".join(f"    server 127.0.0.1:{p} weight={w};\n" for p, w in servers)
    ssl = " ssl" if tls else ""
    certificate = f"    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};\n" if tls else ""
    conf = os.path.join(bench.dir, f"nginx-{port}.conf")
    open(conf, "w").write(f"""worker_processes 1;
pid {bench.dir}/nginx-{port}.pid;
error_log {bench.dir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream pods {{
{upstream}    keepalive 256;
  }}
  server {{
    listen 127.0.0.1:{port} reuseport{ssl};
{certificate}    location / {{ proxy_pass http://pods; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
""")
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    return bench.start([*pin, "nginx", "-c", conf, "-g", "daemon off;"], "nginx"), conf


def haproxy(bench, port, servers, cpu=None, args=(), tls=None):
    """HAProxy with one thread, keep-alive and connection reuse; `servers` is [(port, weight)];
    `args` adds command-line options (`-W`: master-worker, reloaded by SIGUSR2); `tls` is a
    file with the certificate and key to terminate TLS with."""
    backends = "".join(f"  server s{i} 127.0.0.1:{p} weight {w}\n" for i, (p, w) in enumerate(servers))
    ssl = f" ssl crt {tls}" if tls else ""
    cfg = os.path.join(bench.dir, f"haproxy-{port}.cfg")
    open(cfg, "w").write(f"""global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend web
  bind 127.0.0.1:{port}{ssl}
  default_backend pods
backend pods
  balance roundrobin
{backends}""")
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    return bench.start([*pin, "haproxy", *args, "-f", cfg], "haproxy"), cfg


def traefik(bench, port, stable, canary, cpu=None):
    """Traefik as the seed configures it, through its file provider: a router for the seed's
    host to a weighted service of the stable and canary Services (90/10), each a load balancer
    over its pods; no access log, one thread for Go code (GOMAXPROCS=1), as the others have
    one worker. `stable` and `canary` are pod ports."""
    pods = lambda ports: {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{p}"} for p in ports]}}
    dynamic = {"http": {
        "routers": {"canary": {"rule": f"Host(`{HOST}`)", "entryPoints": ["web"], "service": "split"}},
        "services": {
            "split": {"weighted": {"services": [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10}]}},
            "stable": pods(stable),
            "canary": pods(canary),
        },
    }}
    config = os.path.join(bench.dir, f"traefik-{port}.yaml")  # JSON is YAML
    open(config, "w").write(json.dumps(dynamic))
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    args = [os.environ["SERIN_BENCH_TRAEFIK"], f"--entryPoints.web.address=127.0.0.1:{port}",
            f"--providers.file.filename={config}", "--log.level=ERROR"]
    return bench.start([*pin, *args], "traefik", env={**os.environ, "GOMAXPROCS": "1"})


def ensure_free(*ports):
    """Stops the benchmark when something already listens on a port a peer is to take: the
    peer would fail to bind and the rounds would measure whatever holds it."""
    import socket
    for port in ports:
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"port {port} is in use; stop what listens there (ss -ltnp) and run again")
        finally:
            probe.close()


def wait_listening(port, timeout=10):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")
