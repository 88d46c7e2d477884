"""bench/tls.sh's measurement: TLS termination by serin, nginx and HAProxy (see tls.sh)."""
import base64, os, statistics, subprocess, sys

sys.path.insert(0, os.path.dirname(__file__))
from serinbench import HOST, Serin, at_step_one, children, ensure_free, haproxy, limit, nginx, wait_listening

ROUNDS, DURATION = 3, 10
LOADS = {"keep-alive": ["-c64"], "handshakes": ["-c16", "-H", "Connection: close"]}

bench = Serin(cpu=0)
try:
    cert, key = os.path.join(bench.dir, "cert.pem"), os.path.join(bench.dir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    pem = lambda path: base64.b64encode(open(path, "rb").read()).decode()
    # serin: the seed's canary also behind an IngressRoute with spec.tls, its certificate the
    # default one too (wrk connects to an address and sends no server name).
    tls = f"""apiVersion: v1
kind: Secret
metadata:
  name: canary-tls
type: kubernetes.io/tls
data:
  tls.crt: {pem(cert)}
  tls.key: {pem(key)}
---
apiVersion: traefik.io/v1alpha1
kind: TLSStore
metadata:
  name: default
spec:
  defaultCertificate:
    secretName: canary-tls
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: myapp-canary-tls
spec:
  entryPoints: [web]
  routes:
  - match: Host(`{HOST}`)
    kind: Rule
    services:
    - name: canary-service
      kind: TraefikService
  tls:
    secretName: canary-tls
"""
    status, stable, canary, pods = at_step_one(bench, {"tls.yaml": tls})
    servers = [(p, 9) for p in stable] + [(canary[0], 10)]

    # nginx and HAProxy as bench/router.sh configures them, with TLS on their listener.
    nginx_port, haproxy_port = 18443, 18444
    ensure_free(nginx_port, haproxy_port)
    nginx_proc, conf = nginx(bench, nginx_port, servers, cpu=0, tls=(cert, key))
    combined = os.path.join(bench.dir, "combined.pem")
    open(combined, "w").write(open(cert).read() + open(key).read())
    haproxy_proc, _ = haproxy(bench, haproxy_port, servers, cpu=0, tls=combined)
    wait_listening(nginx_port), wait_listening(haproxy_port)
    limit(bench.pid, nginx_proc.pid, *children(nginx_proc.pid), haproxy_proc.pid)
    report = os.path.join(bench.dir, "report.lua")
    open(report, "w").write("""done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %d %d\\n", summary.requests, summary.duration / 1e6, latency:percentile(99), summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
""")
    targets = [("serin", bench.web), ("nginx", f"127.0.0.1:{nginx_port}"), ("haproxy", f"127.0.0.1:{haproxy_port}")]
    results = {(name, load): [] for name, _ in targets for load in LOADS}
    for round_ in range(ROUNDS):
        for load, args in LOADS.items():
            for name, addr in targets:
                out = subprocess.run(["taskset", "-c", "1", "wrk", "-t2", *args, f"-d{DURATION}s", "-s", report,
                                      "-H", f"Host: {HOST}", f"https://{addr}/"], capture_output=True, text=True).stdout
                line = next(l for l in out.splitlines() if l.startswith("RESULT"))
                requests, seconds, p99, errors = line.split()[1:]
                rps = int(requests) / float(seconds)
                results[(name, load)].append((rps, int(p99) / 1000))
                print(f"round {round_ + 1} {load:10} {name:8} {rps:9.0f} req/s  p99 {int(p99) / 1000:.2f} ms  errors {errors}", flush=True)
    print()
    medians = {key: statistics.median(r for r, _ in rounds) for key, rounds in results.items()}
    for (name, load), rounds in results.items():
        print(f"{load:10} {name:8} {medians[(name, load)]:9.0f} req/s  p99 {statistics.median(p for _, p in rounds):.2f} ms")
    ratios = []
    for peer in ("nginx", "haproxy"):
        per_load = []
        for load in LOADS:
            per_round = [s / p for (s, _), (p, _) in zip(results[("serin", load)], results[(peer, load)])]
            per_load.append(f"{statistics.median(per_round):.2f} ({load})")
        ratios.append(f"serin/{peer}=" + " ".join(per_load))
    print("tls ratio " + " ".join(ratios))
finally:
    bench.stop()
