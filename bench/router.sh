#!/usr/bin/env bash
# serin's router against nginx, HAProxy and Traefik in the same run, on this machine: the same
# pods behind each (serin runs them: ten v1 and one v2 of the seed), split 90/10, each proxy
# alone on core 0 with the same CPU quota (half the core), wrk and the pods on core 1. Prints
# req/s and p50/p99/p99.9 per proxy and, last,
# `ratio serin/nginx=X.XX serin/haproxy=Y.YY serin/traefik=Z.ZZ`. Run from the repository
# root, no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/prepare.sh
prepare nginx:nginx-light haproxy:haproxy wrk:wrk
prepare_traefik
exec python3 - "$@" <<'PYTHON'
import os, statistics, subprocess, sys
sys.path.insert(0, "bench")
from serinbench import HOST, QUOTA, Serin, at_step_one, children, cpu_ticks, ensure_free, get, haproxy, limit, nginx, traefik, wait_listening

ROUNDS, DURATION, THREADS, CONNECTIONS = 5, 10, 2, 64
bench = Serin(cpu=0)
try:
    status, stable, canary, pods = at_step_one(bench)
    canary_hash = status["currentPodHash"]
    assert len(stable) == 10 and len(canary) == 1, pods

    # nginx and HAProxy: one worker, no access log, keep-alive pools larger than the clients;
    # Traefik: the seed's weighted service of two Services, one thread for Go code.
    nginx_port, haproxy_port, traefik_port = 18080, 18081, 18082
    ensure_free(nginx_port, haproxy_port, traefik_port)
    servers = [(p, 9) for p in stable] + [(canary[0], 10)]
    nginx_proc, _ = nginx(bench, nginx_port, servers, cpu=0)
    haproxy_proc, _ = haproxy(bench, haproxy_port, servers, cpu=0)
    traefik_proc = traefik(bench, traefik_port, stable, canary, cpu=0)
    wait_listening(nginx_port), wait_listening(haproxy_port), wait_listening(traefik_port)
    limit(bench.pid, nginx_proc.pid, *children(nginx_proc.pid), haproxy_proc.pid, traefik_proc.pid)
    report = os.path.join(bench.dir, "report.lua")
    open(report, "w").write("""done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %d %d %d %d\\n", summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
""")

    def served():
        counts = {}
        for h, port, _ in pods:
            counts[h] = counts.get(h, 0) + int(get(f"http://127.0.0.1:{port}/__serin/served"))
        return counts

    targets = [("serin", bench.web, bench.pid), ("nginx", f"127.0.0.1:{nginx_port}", nginx_proc.pid), ("haproxy", f"127.0.0.1:{haproxy_port}", haproxy_proc.pid), ("traefik", f"127.0.0.1:{traefik_port}", traefik_proc.pid), ("direct", f"127.0.0.1:{stable[0]}", None)]
    results = {name: [] for name, _, _ in targets}
    for round_ in range(ROUNDS):
        for name, addr, pid in targets:
            own = name == "serin"
            before, ticks = served(), cpu_ticks(pid, not own) if pid else 0
            out = subprocess.run(["taskset", "-c", "1", "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s", "-s", report,
                                  "-H", f"Host: {HOST}", f"http://{addr}/"], capture_output=True, text=True).stdout
            line = next(l for l in out.splitlines() if l.startswith("RESULT"))
            requests, seconds, p50, p99, p999, errors = line.split()[1:]
            cpu = (cpu_ticks(pid, not own) - ticks) / 100 / float(seconds) * 100 if pid else 0.0
            after = served()
            delta = {h: after[h] - before[h] for h in after}
            share = delta.get(canary_hash, 0) / max(1, sum(delta.values())) * 100
            saturated = pid is None or cpu >= 90 * QUOTA
            results[name].append(dict(rps=int(requests) / float(seconds), p50=int(p50) / 1000, p99=int(p99) / 1000, p999=int(p999) / 1000, errors=int(errors), cpu=cpu, canary=share, saturated=saturated))
            r = results[name][-1]
            print(f"round {round_ + 1} {name:8} {r['rps']:9.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  p99.9 {r['p999']:.2f} ms  errors {r['errors']}  proxy cpu {cpu:5.1f}%  canary {share:5.2f}%{'' if saturated else '  (proxy CPU quota not saturated: round not counted)'}", flush=True)
    print()
    print(f"{'target':10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'canary %':>10}{'cpu %':>8}{'req/cpu-s':>11}{'rounds':>8}")
    medians = {}
    for name, _, _ in targets:
        counted = [r for r in results[name] if r["saturated"]] or results[name]
        m = {k: statistics.median(r[k] for r in counted) for k in ("rps", "p50", "p99", "p999", "canary", "cpu")}
        medians[name] = m
        per_cpu = f"{m['rps'] / (m['cpu'] / 100):>11.0f}" if m["cpu"] else f"{'-':>11}"
        print(f"{name:10}{m['rps']:>10.0f}{m['p50']:>9.2f}{m['p99']:>9.2f}{m['p999']:>10.2f}{m['canary']:>10.2f}{m['cpu']:>8.1f}{per_cpu}{len(counted):>8}")
    # The rounds' own ratios too: each pairs serin with a peer measured a minute apart, so the
    # machine's mood (which moves whole rounds by a quarter) cancels more than in the medians.
    for peer in ("nginx", "haproxy", "traefik"):
        per_round = [s["rps"] / p["rps"] for s, p in zip(results["serin"], results[peer])]
        print(f"per round serin/{peer}: " + " ".join(f"{r:.2f}" for r in per_round) + f" (median {statistics.median(per_round):.2f})")
    print("ratio " + " ".join(f"serin/{peer}={medians['serin']['rps'] / medians[peer]['rps']:.2f}" for peer in ("nginx", "haproxy", "traefik")))
finally:
    bench.stop()
PYTHON
