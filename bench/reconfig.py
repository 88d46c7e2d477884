"""bench/reconfig.sh's measurement (see there). Each proxy alone on core 0 under the same CPU
quota as in bench/router.sh (so the proxy, not core 1, is the bottleneck and whatever a change
costs it shows as lost requests); wrk and the pods on core 1. Rounds alternate which phase
comes first (steady then changing, then changing then steady) so that drift over a round
cancels. serin's weights change through its API (a TraefikService of its own, behind an
IngressRoute for host reconfig.local, so the rollout controller does not own it); nginx gets
SIGHUP and HAProxy (master-worker mode) SIGUSR2 after its configuration file is rewritten.

`python3 bench/reconfig.py [serin|nginx|haproxy ...]` measures only the targets named (all three by
default), for a quicker before/after of one of them.

`python3 bench/reconfig.py cpu [PERF_DATA]`: no load and no other proxy; serin's own CPU time
(utime+stime of the server process, not its pods) over N changes at RATE a second, against the
same time with no changes, so the difference is the CPU cost of one change. With PERF_DATA,
`perf record` samples serin during the changes."""
import http.client, json, os, random, re, signal, statistics, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from serinbench import HOST, QUOTA, Serin, at_step_one, children, cpu_ticks, haproxy, limit, nginx, stat_ticks, wait_listening

DURATION, RATE, ROUNDS, N = 30, 10, 4, 300

SPLIT = """apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata:
  name: reconfig-split
spec:
  weighted:
    services:
    - name: canary-active
      port: 80
      weight: {canary}
    - name: canary-preview
      port: 80
      weight: {stable}
"""
ROUTE = """apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: reconfig
spec:
  entryPoints: [web]
  routes:
  - match: Host(`reconfig.local`)
    kind: Rule
    services:
    - name: reconfig-split
      kind: TraefikService
"""


def wrk(addr, host):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t2", "-c64", f"-d{DURATION}s", "-H", f"Host: {host}", f"http://{addr}/"],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, errors + (int(non_2xx.group(1)) if non_2xx else 0)


# The changing phase's weights: random, 0 to 20, so that on average the pods get the same share
# of the load as in the steady phase (10) and only the reconfiguration differs between the two.
# (Until 2026-11-27 13:20 they ran 0 to 100: the one canary pod then took half the load on
# average instead of a tenth, which changed more than the proxies' configuration.)
WEIGHTS = (0, 20)


class Changer(threading.Thread):
    """Changes the canary weight RATE times a second until stopped; counts the changes made."""

    def __init__(self, change):
        super().__init__(daemon=True)
        self.change, self.stop, self.done, self.latencies = change, threading.Event(), 0, []

    def run(self):
        rng, tick = random.Random(7), time.time()
        while not self.stop.is_set():
            started = time.time()
            self.change(rng.randint(*WEIGHTS))
            self.latencies.append(time.time() - started)
            self.done += 1
            tick += 1 / RATE
            time.sleep(max(0, tick - time.time()))


def serin_at_step_one():
    """serin alone on core 0 at the seed's step 1, with the reconfig split and its route."""
    bench = Serin(cpu=0, env={"TOKIO_WORKER_THREADS": "1"})
    try:
        return bench, at_step_one(bench, {"split.yaml": SPLIT.format(canary=10, stable=90), "route.yaml": ROUTE})
    except BaseException:
        bench.stop()
        raise


def serin_changer(bench):
    """Sets the split's canary weight through serin's API, over one kept-alive connection (as a
    client changing weights ten times a second would hold it; `serin apply` opens one per call)."""
    token = open(os.path.join(bench.dir, "data", "token")).read().strip()
    api = http.client.HTTPConnection(bench.api.removeprefix("http://"), timeout=5)

    def change(weight):
        body = json.dumps({"files": [{"name": "split.yaml", "text": SPLIT.format(canary=weight, stable=100 - weight)}]})
        api.request("POST", "/api/v1/apply", body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = api.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"serin refused a weight change: {response.status} {answer.decode()}")
    return change


def control_plane_ticks(pid):
    """CPU ticks of serin's threads other than the router's (API, store, controllers)."""
    ticks = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            name, used = stat_ticks(f"/proc/{pid}/task/{task}/stat")
        except FileNotFoundError:
            continue
        ticks += 0 if name.startswith("serin-router") else used
    return ticks


def cpu_ms(pid):
    """CPU time the process used so far (all its threads, not its children), in ms."""
    return 1000 * cpu_ticks(pid, False) / os.sysconf("SC_CLK_TCK")


def cpu_cost(perf_data=None):
    bench, _ = serin_at_step_one()
    try:
        change = serin_changer(bench)
        change(10)
        time.sleep(2)
        seconds = N / RATE
        started, cpu = time.time(), cpu_ms(bench.pid)
        time.sleep(seconds)
        idle = (cpu_ms(bench.pid) - cpu) / (time.time() - started)
        perf = perf_data and subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "--call-graph", "dwarf", "-o", perf_data,
                                               "-p", str(bench.pid)], stdout=subprocess.DEVNULL)
        changer = Changer(change)
        started, cpu = time.time(), cpu_ms(bench.pid)
        changer.start()
        while changer.done < N:
            time.sleep(0.01)
        changer.stop.set()
        changer.join()
        time.sleep(0.5)  # the controllers' passes after the last change
        elapsed, used = time.time() - started, cpu_ms(bench.pid) - cpu
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        per_change = (used - idle * elapsed) / changer.done
        print(f"idle {idle:.2f} ms CPU/s; {changer.done} changes in {elapsed:.1f} s used {used:.0f} ms CPU: "
              f"{per_change:.2f} ms CPU per change (median apply {1000 * statistics.median(changer.latencies):.1f} ms)")
    finally:
        bench.stop()


def main(only=()):
    bench, (_, stable, canary, _) = serin_at_step_one()
    try:
        serin_change = serin_changer(bench)

        def servers(weight):  # the same pools at the same total weight as serin's two services
            return [(p, 100 - weight) for p in stable] + [(p, weight * len(stable)) for p in canary]

        nginx_port, haproxy_port = 18100, 18101
        nginx_proc, nginx_conf = nginx(bench, nginx_port, servers(10), cpu=0)
        haproxy_proc, haproxy_cfg = haproxy(bench, haproxy_port, servers(10), cpu=0, args=["-W"])
        wait_listening(nginx_port), wait_listening(haproxy_port)

        def rewrite(path, weight, pattern, line):
            text = open(path).read()
            ports = iter([p for p, _ in servers(weight)])
            weights = iter([w for _, w in servers(weight)])
            text = re.sub(pattern, lambda m: line(next(ports), next(weights), m), text)
            open(path, "w").write(text)

        def nginx_change(weight):
            rewrite(nginx_conf, weight, r"server 127\.0\.0\.1:\d+ weight=\d+;", lambda p, w, m: f"server 127.0.0.1:{p} weight={w};")
            nginx_proc.send_signal(signal.SIGHUP)

        def haproxy_change(weight):
            rewrite(haproxy_cfg, weight, r"server (s\d+) 127\.0\.0\.1:\d+ weight \d+", lambda p, w, m: f"server {m.group(1)} 127.0.0.1:{p} weight {w}")
            haproxy_proc.send_signal(signal.SIGUSR2)

        limit(bench.pid, nginx_proc.pid, *children(nginx_proc.pid), haproxy_proc.pid, *children(haproxy_proc.pid))
        targets = [("serin", bench.web, "reconfig.local", serin_change, bench.pid),
                   ("nginx", f"127.0.0.1:{nginx_port}", HOST, nginx_change, nginx_proc.pid),
                   ("haproxy", f"127.0.0.1:{haproxy_port}", HOST, haproxy_change, haproxy_proc.pid)]
        targets = [t for t in targets if t[0] in (only or [t[0]])]
        results = {name: [] for name, *_ in targets}
        for round_ in range(ROUNDS):
            for name, addr, host, change, pid in targets:
                phases = {}
                for phase in ("steady", "changing") if round_ % 2 == 0 else ("changing", "steady"):
                    changer = Changer(change) if phase == "changing" else None
                    ticks, started = cpu_ticks(pid, name != "serin"), time.time()
                    control = control_plane_ticks(pid) if name == "serin" else 0
                    if changer:
                        changer.start()
                    rps, errors = wrk(addr, host)
                    if changer:
                        changer.stop.set()
                        changer.join()
                        change(10)
                    used = cpu_ticks(pid, name != "serin") - ticks
                    cpu = used / os.sysconf("SC_CLK_TCK") / (time.time() - started)
                    control = (control_plane_ticks(pid) - control) / max(1, used) if name == "serin" else None
                    phases[phase] = dict(rps=rps, errors=errors, cpu=cpu, control=control, changes=changer.done if changer else 0,
                                         apply_ms=1000 * statistics.median(changer.latencies) if changer else 0)
                steady, changing = phases["steady"], phases["changing"]
                saturated = min(steady["cpu"], changing["cpu"]) >= 0.9 * QUOTA
                results[name].append(dict(steady=steady, changing=changing, loss=100 * (1 - changing["rps"] / steady["rps"]), saturated=saturated))
                print(f"round {round_ + 1} {name:8} steady {steady['rps']:8.0f} req/s {steady['errors']} errors cpu {100 * steady['cpu']:.0f}% | "
                      f"changing {changing['rps']:8.0f} req/s {changing['errors']} errors cpu {100 * changing['cpu']:.0f}%, "
                      f"{changing['changes']} changes (median {changing['apply_ms']:.1f} ms each) | throughput change "
                      f"{-results[name][-1]['loss']:+.1f}%{'' if saturated else '  (proxy CPU quota not saturated: round not counted)'}"
                      + (f" | control plane {100 * steady['control']:.1f}% -> {100 * changing['control']:.1f}% of serin's CPU" if name == "serin" else ""),
                      flush=True)
        print()
        print(f"{'target':10}{'steady req/s':>14}{'changing req/s':>16}{'change':>9}{'mean':>9}{'+/-':>6}{'errors':>8}{'changes':>9}{'rounds':>8}")
        for name, *_ in targets:
            counted = [r for r in results[name] if r["saturated"]] or results[name]
            steady = statistics.median(r["steady"]["rps"] for r in counted)
            changing = statistics.median(r["changing"]["rps"] for r in counted)
            loss = statistics.median(r["loss"] for r in counted)
            spread = statistics.stdev(r["loss"] for r in counted) / len(counted) ** 0.5 if len(counted) > 1 else 0.0
            errors = sum(r["changing"]["errors"] for r in results[name])
            changes = sum(r["changing"]["changes"] for r in results[name])
            mean = statistics.mean(r["loss"] for r in counted)
            print(f"{name:10}{steady:>14.0f}{changing:>16.0f}{-loss:>+8.1f}%{-mean:>+8.1f}%{spread:>6.1f}{errors:>8}{changes:>9}{len(counted):>8}")
        print("(change: the median of the rounds' own throughput changes; mean +/- its standard error;\n"
              " errors and changes: sums over all rounds)")
        if "serin" in results:
            share = {phase: statistics.median(r[phase]["control"] for r in results["serin"]) for phase in ("steady", "changing")}
            print(f"serin's control plane (every thread but the router's): {100 * share['steady']:.1f}% of its CPU steady, "
                  f"{100 * share['changing']:.1f}% while changing (medians): a change costs the router about "
                  f"{100 * (share['changing'] - share['steady']):.1f}% of its CPU.")
    finally:
        bench.stop()


if sys.argv[1:2] == ["cpu"]:
    cpu_cost(*sys.argv[2:3])
else:
    main(sys.argv[1:])
