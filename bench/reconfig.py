"""bench/reconfig.sh's measurement (see there). Each proxy alone on core 0 under the same CPU
quota as in bench/router.sh (so the proxy, not core 1, is the bottleneck and whatever a change
costs it shows as lost requests); wrk and the pods on core 1. Under one continuous load, short
slices alternate between steady and changing weights, and each changing slice is compared with
the steady ones beside it, so that the machine's drift (its steady rate alone moves by up to a
quarter over minutes) cancels; the pods count the requests they answer, so every proxy is
counted the same way. serin's weights change through its API (a TraefikService of its own, behind an
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
from serinbench import HOST, QUOTA, Serin, at_step_one, children, cpu_ticks, get, haproxy, limit, nginx, stat_ticks, wait_listening

RATE, N = 10, 300
# Under load, each target runs ROUNDS runs of wrk, each SLICES slices of SLICE seconds long,
# alternately steady and changing (so each run changes the weights for 30 s); drift slower than
# a slice cancels between neighbours. A slice's first SETTLE seconds are not counted (the end
# of a reload started in the slice before belongs to neither phase); WARM before and after.
ROUNDS, SLICES, SLICE, SETTLE, WARM = 4, 20, 3.0, 0.5, 1.0

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


def served(ports):
    """Requests the pods have answered so far (every proxy's, counted where they land)."""
    return sum(int(get(f"http://127.0.0.1:{port}/__serin/served")) for port in ports)


def run(addr, host, change, pid, own, ports, changing_first):
    """One wrk run of SLICES slices; every other slice changes the weights. Returns per slice
    (changing?, req/s, proxy CPU ticks, with `own` (serin) its control plane's ticks) and wrk's
    failed requests."""
    load = subprocess.Popen(["taskset", "-c", "1", "wrk", "-t2", "-c64", f"-d{SLICES * SLICE + 2 * WARM:.0f}s", "-H", f"Host: {host}",
                             f"http://{addr}/"], stdout=subprocess.PIPE, text=True)
    time.sleep(WARM)
    slices = []
    for i in range(SLICES):
        changing = (i % 2 == 0) == changing_first
        changer = Changer(change) if changing else None
        if changer:
            changer.start()
        time.sleep(SETTLE)
        start = time.time(), served(ports), cpu_ticks(pid, not own), control_plane_ticks(pid) if own else 0
        time.sleep(SLICE - SETTLE)
        end = time.time(), served(ports), cpu_ticks(pid, not own), control_plane_ticks(pid) if own else 0
        if changer:
            changer.stop.set()
            changer.join()
            change(10)
        slices.append(dict(changing=changing, rps=(end[1] - start[1]) / (end[0] - start[0]), seconds=end[0] - start[0],
                           ticks=end[2] - start[2], control=end[3] - start[3], changes=changer.done if changer else 0,
                           apply_ms=1000 * statistics.median(changer.latencies) if changer else 0))
    out = load.communicate()[0]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return slices, errors + (int(non_2xx.group(1)) if non_2xx else 0)


def losses(slices):
    """Each changing slice's throughput against the mean of the steady slices beside it (so
    that drift slower than a slice cancels), as a loss in percent."""
    out = []
    for i, s in enumerate(slices):
        beside = [slices[j]["rps"] for j in (i - 1, i + 1) if 0 <= j < len(slices)]
        if s["changing"]:
            out.append(100 * (1 - s["rps"] / statistics.mean(beside)))
    return out


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
        tick = os.sysconf("SC_CLK_TCK")
        for round_ in range(ROUNDS):
            for name, addr, host, change, pid in targets:
                slices, errors = run(addr, host, change, pid, name == "serin", stable + canary, changing_first=round_ % 2 == 1)
                cpu = sum(s["ticks"] for s in slices) / tick / sum(s["seconds"] for s in slices)
                share = {phase: sum(s["control"] for s in slices if s["changing"] == phase) / max(1, sum(s["ticks"] for s in slices if s["changing"] == phase))
                         for phase in (False, True)}
                result = dict(slices=slices, errors=errors, losses=losses(slices), cpu=cpu, saturated=cpu >= 0.9 * QUOTA, share=share)
                results[name].append(result)
                changing = [s for s in slices if s["changing"]]
                print(f"round {round_ + 1} {name:8} steady {statistics.mean(s['rps'] for s in slices if not s['changing']):8.0f} req/s | "
                      f"changing {statistics.mean(s['rps'] for s in changing):8.0f} req/s, {sum(s['changes'] for s in changing)} changes "
                      f"(median {statistics.median(s['apply_ms'] for s in changing):.1f} ms each) | {errors} failed requests | proxy cpu "
                      f"{100 * cpu:.0f}% | per slice " + " ".join(f"{-loss:+.0f}" for loss in result["losses"])
                      + ("" if result["saturated"] else "  (proxy CPU quota not saturated: round not counted)")
                      + (f" | control plane {100 * share[False]:.1f}% -> {100 * share[True]:.1f}% of serin's CPU" if name == "serin" else ""),
                      flush=True)
        print()
        print(f"{'target':10}{'steady req/s':>14}{'changing req/s':>16}{'change':>9}{'median':>9}{'+/-':>6}{'errors':>8}{'changes':>9}{'slices':>8}")
        for name, *_ in targets:
            counted = [r for r in results[name] if r["saturated"]] or results[name]
            slices = [s for r in counted for s in r["slices"]]
            each = [loss for r in counted for loss in r["losses"]]
            steady = statistics.mean(s["rps"] for s in slices if not s["changing"])
            changing = statistics.mean(s["rps"] for s in slices if s["changing"])
            spread = statistics.stdev(each) / len(each) ** 0.5
            errors = sum(r["errors"] for r in results[name])
            changes = sum(s["changes"] for r in results[name] for s in r["slices"])
            print(f"{name:10}{steady:>14.0f}{changing:>16.0f}{-statistics.mean(each):>+8.1f}%{-statistics.median(each):>+8.1f}%"
                  f"{spread:>6.1f}{errors:>8}{changes:>9}{len(each):>8}")
        print(f"(change: the mean over the changing slices of each one's throughput against the steady slices beside it;\n"
              f" median of the same; +/-: the standard error of the mean; errors: failed requests over whole runs;\n"
              f" {ROUNDS} runs of {SLICES} slices of {SLICE:g} s per target, each slice's first {SETTLE} s not counted)")
        if "serin" in results:
            share = {phase: statistics.median(r["share"][phase] for r in results["serin"]) for phase in (False, True)}
            print(f"serin's control plane (every thread but the router's): {100 * share[False]:.1f}% of its CPU steady, "
                  f"{100 * share[True]:.1f}% while changing (medians): a change costs the router about "
                  f"{100 * (share[True] - share[False]):.1f}% of its CPU.")
    finally:
        bench.stop()


if sys.argv[1:2] == ["cpu"]:
    cpu_cost(*sys.argv[2:3])
else:
    main(sys.argv[1:])
