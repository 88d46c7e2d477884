"""bench/syscalls.sh's measurement (see there)."""
import os, re, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from serinbench import HOST, Serin, at_step_one, children, get, haproxy, nginx, wait_listening

SECONDS = 5


def counts(strace_output, requests):
    """System calls per request, from `strace -c` output, for calls made at least once per 100 requests."""
    per_request = {}
    for line in open(strace_output).read().splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and int(m.group(1)) / requests >= 0.01:
            per_request[m.group(2)] = int(m.group(1)) / requests
    return per_request


def main():
    bench = Serin(cpu=0)
    try:
        _, stable, canary, pods = at_step_one(bench)
        servers = [(p, 9) for p in stable] + [(p, 10) for p in canary]
        nginx_proc, _ = nginx(bench, 18080, servers, cpu=0)
        haproxy_proc, _ = haproxy(bench, 18081, servers, cpu=0)
        wait_listening(18080), wait_listening(18081)
        time.sleep(0.5)
        (nginx_worker,) = children(nginx_proc.pid)

        def served():
            return sum(int(get(f"http://127.0.0.1:{port}/__serin/served")) for _, port, _ in pods)

        print(f"{'proxy':10}{'requests':>10}{'syscalls per request':>22}  by call")
        for name, addr, pid in [("serin", bench.web, bench.pid), ("nginx", "127.0.0.1:18080", int(nginx_worker)),
                                ("haproxy", "127.0.0.1:18081", haproxy_proc.pid)]:
            out = os.path.join(bench.dir, f"strace-{name}.txt")
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(pid)], stderr=subprocess.DEVNULL)
            time.sleep(1)
            before = served()
            subprocess.run(["taskset", "-c", "1", "wrk", "-t2", "-c64", f"-d{SECONDS}s", "-H", f"Host: {HOST}", f"http://{addr}/"],
                           capture_output=True, check=True)
            requests = served() - before
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
            calls = counts(out, requests)
            total = calls.pop("total", sum(calls.values()))
            detail = ", ".join(f"{call} {n:.2f}" for call, n in sorted(calls.items(), key=lambda c: -c[1]))
            print(f"{name:10}{requests:>10}{total:>22.2f}  {detail}", flush=True)
    finally:
        bench.stop()


main()
