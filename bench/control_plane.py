"""bench/control-plane.sh's measurement (see there)."""
import json, os, statistics, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from serinbench import Serin, get, seed

MANY, SAMPLES = 500, 5


def stack(i):
    """The seed's Rollout, Services, TraefikService and IngressRoute, renamed with suffix i, one replica."""
    rename = lambda text: (text.replace("canary-rollout", f"app{i}").replace("canary-active", f"app{i}-canary")
                           .replace("canary-preview", f"app{i}-stable").replace("canary-service", f"app{i}-split")
                           .replace("myapp-canary", f"app{i}-route").replace("canary.myapp.com", f"app{i}.local")
                           .replace("app: myapp", f"app: app{i}"))
    rollout = rename(seed("rollout.yaml")).replace("  replicas: 10", "  replicas: 1")
    return {f"app{i}-rollout.yaml": rollout, f"app{i}-service.yaml": rename(seed("service.yaml")), f"app{i}-ingress.yaml": rename(seed("ingress.yaml"))}


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served_canary_weight(bench, split):
    """The canary weight the router serves, as the rollout controller records it."""
    url = f"{bench.api}/api/v1/object?group=traefik.io&kind=TraefikService&namespace=default&name={split}"
    return json.loads(get(url))["spec"]["weighted"]["services"][0].get("weight")


def update_timings(bench, name, split, version):
    """Seconds from `serin set image` to the first new pod ready, and to the TraefikService
    canary weight 10 with the router serving it (status.canary.weights)."""
    started = time.time()
    bench.serin("set", "image", name, f"myapp=ikubernetes/myapp:{version}")
    ready = weighted = None
    while ready is None or weighted is None:
        tree = bench.tree(name)
        status = tree["rollout"].get("status", {})
        new = [rs for rs in tree["replicaSets"] if rs["metadata"]["labels"].get("rollouts-pod-template-hash") == status.get("currentPodHash")]
        if ready is None and new and new[0].get("status", {}).get("availableReplicas", 0) >= 1 and status.get("currentPodHash") != status.get("stableRS"):
            ready = time.time() - started
        served = (status.get("canary", {}).get("weights") or {}).get("canary", {})
        if weighted is None and served.get("weight") == 10 and served.get("podTemplateHash") == status.get("currentPodHash") \
                and served_canary_weight(bench, split) == 10:
            weighted = time.time() - started
        if time.time() - started > 120:
            raise SystemExit(f"{name}: no canary after 120 s: {json.dumps(status)}")
        time.sleep(0.005)
    bench.serin("promote", "--full", name)
    bench.wait(f"{name} promoted", lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == s.get("currentPodHash"), name=name)
    return ready, weighted


def report(label, samples):
    ready = [r for r, _ in samples]
    weighted = [w for _, w in samples]
    print(f"{label}: first canary pod ready median {1000 * statistics.median(ready):.0f} ms (max {1000 * max(ready):.0f}), "
          f"10% weight served median {1000 * statistics.median(weighted):.0f} ms (max {1000 * max(weighted):.0f}), {len(samples)} updates", flush=True)


def main():
    bench = Serin()
    try:
        bench.apply_text({name: seed(name) for name in ("service.yaml", "ingress.yaml", "rollout.yaml")})
        bench.wait("seed healthy", lambda s: s.get("phase") == "Healthy" and s.get("availableReplicas") == 10)
        report("one rollout (the seed, 10 pods)", [update_timings(bench, "canary-rollout", "canary-service", f"v{i + 2}") for i in range(SAMPLES)])

        files = {}
        for i in range(MANY):
            files.update(stack(i))
        folder = tempfile.mkdtemp(dir=bench.dir)
        for name, text in files.items():
            open(os.path.join(folder, name), "w").write(text)
        started = time.time()
        bench.serin("apply", "-f", folder)
        applied = time.time() - started
        while True:
            items = json.loads(get(f"{bench.api}/api/v1/objects?group=argoproj.io&kind=Rollout", timeout=60))["items"]
            healthy = sum(1 for r in items if r.get("status", {}).get("phase") == "Healthy")
            if healthy == MANY + 1:
                break
            if time.time() - started > 900:
                raise SystemExit(f"only {healthy} of {MANY + 1} rollouts healthy after 900 s")
            time.sleep(0.5)
        up = time.time() - started
        objects = sum(t.count("apiVersion:") for t in files.values())
        print(f"{MANY} rollouts ({len(files)} files, {objects} objects): serin apply {applied:.2f} s; all Healthy {up:.1f} s after the apply began", flush=True)
        time.sleep(5)
        before = cpu_seconds(bench.pid)
        time.sleep(10)
        idle = (cpu_seconds(bench.pid) - before) / 10 * 100
        print(f"server with {MANY + 1} rollouts and {MANY + 10} pods: RSS {rss_mb(bench.pid):.0f} MB, idle CPU {idle:.1f}% of one core", flush=True)
        report(f"one of {MANY + 1} rollouts (1 pod)", [update_timings(bench, f"app{i}", f"app{i}-split", f"v{i + 2}") for i in range(SAMPLES)])
        print(f"server after the updates: RSS {rss_mb(bench.pid):.0f} MB")
    finally:
        bench.stop()


main()
