#!/usr/bin/env bash
# serin's router against nginx and HAProxy in the same run, on this machine: the same pods
# behind each (serin runs them: ten v1 and one v2 of the seed), split 90/10, each proxy alone
# on core 0, wrk and the pods on core 1. Prints req/s and p50/p99/p99.9 per proxy and, last,
# `ratio serin/nginx=X.XX serin/haproxy=Y.YY`. Run from the repository root, no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in nginx:nginx-light haproxy:haproxy wrk:wrk; do
  command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
cargo build --release -q
export PATH="$PATH:/usr/sbin"
exec python3 - "$@" <<'PYTHON'
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request

ROUNDS, DURATION, THREADS, CONNECTIONS = 3, 10, 2, 64
SERIN = os.path.abspath("target/release/serin")
work = tempfile.mkdtemp(prefix="serin-router-bench-")
env = dict(os.environ, SERIN_DATA_DIR=os.path.join(work, "data"), TOKIO_WORKER_THREADS="1")
procs = []

def start(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, os.path.basename(args[2]) + ".log"), "a"), **kw)
    procs.append(p)
    return p

def serin(*args):
    return subprocess.run([SERIN, *args], env=env, check=True, capture_output=True, text=True).stdout

def get(url):
    return urllib.request.urlopen(url, timeout=5).read().decode()

def cpu_ticks(pid, children=True):
    """CPU time of a process and, for nginx, its worker; serin's children are its pods and do not count."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    for task in os.listdir(f"/proc/{pid}/task") if children else []:
        for child in open(f"/proc/{pid}/task/{task}/children").read().split():
            if not child:
                continue
            try:
                ticks += cpu_ticks(int(child))
            except FileNotFoundError:
                pass
    return ticks

try:
    server = start(["taskset", "-c", "0", SERIN, "server", "--api", "127.0.0.1:0", "--entrypoint", "web=127.0.0.1:0"], env=env)
    info_path = os.path.join(work, "data", "server.json")
    while not os.path.exists(info_path):
        time.sleep(0.05)
    time.sleep(0.2)
    info = json.load(open(info_path))
    api, web = info["api"], info["entrypoints"]["web"]
    serin("apply", "-f", "examples/argo-demo/argorollout-canary/")
    def status():
        return json.loads(get(f"{api}/api/v1/rollouts/default/canary-rollout/tree"))
    while status()["rollout"].get("status", {}).get("availableReplicas") != 10:
        time.sleep(0.1)
    serin("set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2")
    while not (status()["rollout"]["status"].get("currentStepIndex") == 1 and status()["rollout"]["status"].get("phase") == "Paused"):
        time.sleep(0.1)
    tree = status()
    pods = [(p["metadata"]["labels"]["rollouts-pod-template-hash"], int(p["metadata"]["annotations"]["serin.dev/port"]), int(p["metadata"]["annotations"]["serin.dev/pid"])) for p in tree["pods"]]
    canary_hash = tree["rollout"]["status"]["currentPodHash"]
    for _, _, pid in pods:  # the pods share core 1 with wrk; the proxies get core 0 alone
        subprocess.run(["taskset", "-p", "-c", "1", str(pid)], check=True, capture_output=True)
    serin_pid = int(info["pid"])
    stable = [port for h, port, _ in pods if h != canary_hash]
    canary = [port for h, port, _ in pods if h == canary_hash]
    assert len(stable) == 10 and len(canary) == 1, pods

    # nginx and HAProxy: one worker, no access log, keep-alive pools larger than the clients.
    nginx_port, haproxy_port = 18080, 18081
    servers = "".join(f"    server 127.0.0.1:{p} weight=9;\n" for p in stable) + f"    server 127.0.0.1:{canary[0]} weight=10;\n"
    open(os.path.join(work, "nginx.conf"), "w").write(f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream pods {{
{servers}    keepalive 256;
  }}
  server {{
    listen 127.0.0.1:{nginx_port} reuseport;
    location / {{ proxy_pass http://pods; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
""")
    hservers = "".join(f"  server s{i} 127.0.0.1:{p} weight 9\n" for i, p in enumerate(stable)) + f"  server canary 127.0.0.1:{canary[0]} weight 10\n"
    open(os.path.join(work, "haproxy.cfg"), "w").write(f"""global
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
  bind 127.0.0.1:{haproxy_port}
  default_backend pods
backend pods
  balance roundrobin
{hservers}""")
    nginx = start(["taskset", "-c", "0", "nginx", "-c", os.path.join(work, "nginx.conf"), "-g", "daemon off;"])
    haproxy = start(["taskset", "-c", "0", "haproxy", "-f", os.path.join(work, "haproxy.cfg")])
    time.sleep(1)
    open(os.path.join(work, "report.lua"), "w").write("""done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %d %d %d %d\\n", summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
""")

    def served():
        counts = {}
        for h, port, _ in pods:
            counts[h] = counts.get(h, 0) + int(get(f"http://127.0.0.1:{port}/__serin/served"))
        return counts

    targets = [("serin", web, serin_pid), ("nginx", f"127.0.0.1:{nginx_port}", nginx.pid), ("haproxy", f"127.0.0.1:{haproxy_port}", haproxy.pid), ("direct", f"127.0.0.1:{stable[0]}", None)]
    results = {name: [] for name, _, _ in targets}
    for round_ in range(ROUNDS):
        for name, addr, pid in targets:
            own = name == "serin"
            before, ticks = served(), cpu_ticks(pid, not own) if pid else 0
            out = subprocess.run(["taskset", "-c", "1", "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s", "-s", os.path.join(work, "report.lua"),
                                  "-H", "Host: canary.myapp.com", f"http://{addr}/"], capture_output=True, text=True).stdout
            line = next(l for l in out.splitlines() if l.startswith("RESULT"))
            requests, seconds, p50, p99, p999, errors = line.split()[1:]
            cpu = (cpu_ticks(pid, not own) - ticks) / 100 / float(seconds) * 100 if pid else 0.0
            after = served()
            delta = {h: after[h] - before[h] for h in after}
            share = delta.get(canary_hash, 0) / max(1, sum(delta.values())) * 100
            saturated = pid is None or cpu >= 90
            results[name].append(dict(rps=int(requests) / float(seconds), p50=int(p50) / 1000, p99=int(p99) / 1000, p999=int(p999) / 1000, errors=int(errors), cpu=cpu, canary=share, saturated=saturated))
            r = results[name][-1]
            print(f"round {round_ + 1} {name:8} {r['rps']:9.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  p99.9 {r['p999']:.2f} ms  errors {r['errors']}  proxy cpu {cpu:5.1f}%  canary {share:5.2f}%{'' if saturated else '  (proxy core not saturated: round not counted)'}", flush=True)
    print()
    print(f"{'target':10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'canary %':>10}{'cpu %':>8}{'req/cpu-s':>11}{'rounds':>8}")
    medians = {}
    for name, _, _ in targets:
        counted = [r for r in results[name] if r["saturated"]] or results[name]
        m = {k: statistics.median(r[k] for r in counted) for k in ("rps", "p50", "p99", "p999", "canary", "cpu")}
        medians[name] = m
        per_cpu = f"{m['rps'] / (m['cpu'] / 100):>11.0f}" if m["cpu"] else f"{'-':>11}"
        print(f"{name:10}{m['rps']:>10.0f}{m['p50']:>9.2f}{m['p99']:>9.2f}{m['p999']:>10.2f}{m['canary']:>10.2f}{m['cpu']:>8.1f}{per_cpu}{len(counted):>8}")
    print(f"ratio serin/nginx={medians['serin']['rps'] / medians['nginx']['rps']:.2f} serin/haproxy={medians['serin']['rps'] / medians['haproxy']['rps']:.2f}")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=40)
        except Exception:
            p.kill()
    shutil.rmtree(work, ignore_errors=True)
PYTHON
