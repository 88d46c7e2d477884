"""bench/split.sh's measurement (see there). serin's split is the seed's Rollout stepping
through the weights (its controller writes the TraefikService, its router splits); nginx and
HAProxy get one stable and one canary pod of the same rollout at the same weights."""
import http.client, random, statistics, sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
from serinbench import HOST, Serin, haproxy, nginx, seed, wait_listening, with_steps

WEIGHTS, REQUESTS, WINDOW = [1, 5, 10, 33, 50], 10_000, 100


def sequence(port):
    """Which of REQUESTS sequential keep-alive requests reached the canary (v2)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    canary = []
    for _ in range(REQUESTS):
        connection.request("GET", "/", headers={"Host": HOST})
        canary.append(b"Version: v2" in connection.getresponse().read())
    connection.close()
    return canary


def worst_window(canary, weight):
    """The largest |canary count - weight| over all windows of WINDOW consecutive requests."""
    count = sum(canary[:WINDOW])
    worst = abs(count - weight)
    for i in range(WINDOW, len(canary)):
        count += canary[i] - canary[i - WINDOW]
        worst = max(worst, abs(count - weight))
    return worst


def ingress_nginx(weight, seed):
    """ingress-nginx's canary-weight rule: each request independently goes to the canary when
    math.random(100) <= weight."""
    rng = random.Random(seed)
    return [rng.randint(1, 100) <= weight for _ in range(REQUESTS)]


def main():
    bench = Serin()
    try:
        steps = [s for w in WEIGHTS for s in (f"setWeight: {w}", "pause: {}")]
        rollout = with_steps(seed("rollout.yaml"), steps, replicas=2)
        bench.apply_text({"service.yaml": seed("service.yaml"), "ingress.yaml": seed("ingress.yaml"), "rollout.yaml": rollout})
        bench.wait("v1 healthy", lambda s: s.get("phase") == "Healthy" and s.get("availableReplicas") == 2)
        bench.apply_text({"rollout.yaml": rollout.replace("ikubernetes/myapp:v1", "ikubernetes/myapp:v2")})
        web_port = int(bench.web.rsplit(":", 1)[1])
        rows = []
        for i, weight in enumerate(WEIGHTS):
            status = bench.wait(f"weight {weight}", lambda s: s.get("currentStepIndex") == 2 * i + 1 and s.get("phase") == "Paused"
                                and (s.get("canary", {}).get("weights") or {}).get("canary", {}).get("weight") == weight)
            pods = bench.pods()
            canary = next(port for h, port, _ in pods if h == status["currentPodHash"])
            stable = next(port for h, port, _ in pods if h == status["stableRS"])
            servers = [(stable, 100 - weight), (canary, weight)]
            nginx_port, haproxy_port = 18090 + 2 * i, 18091 + 2 * i
            peers = [nginx(bench, nginx_port, servers)[0], haproxy(bench, haproxy_port, servers)[0]]
            wait_listening(nginx_port), wait_listening(haproxy_port)
            row = {"weight": weight}
            for name, port in (("serin", web_port), ("nginx", nginx_port), ("haproxy", haproxy_port)):
                canary_hits = sequence(port)
                row[name] = worst_window(canary_hits, weight)
                row[name + " share"] = 100 * sum(canary_hits) / REQUESTS
            simulated = [worst_window(ingress_nginx(weight, s), weight) for s in range(100)]
            row["ingress-nginx median"], row["ingress-nginx worst"] = statistics.median(simulated), max(simulated)
            rows.append(row)
            print(f"weight {weight:2}: worst window deviation serin {row['serin']}, nginx {row['nginx']}, haproxy {row['haproxy']}, "
                  f"ingress-nginx (simulated, 100 runs) median {row['ingress-nginx median']:g} worst {row['ingress-nginx worst']}; "
                  f"canary share serin {row['serin share']:.2f}% nginx {row['nginx share']:.2f}% haproxy {row['haproxy share']:.2f}%", flush=True)
            for peer in peers:
                peer.terminate()
                peer.wait()
            bench.serin("promote", "canary-rollout")
        print()
        print(f"largest deviation from the weight in any {WINDOW} consecutive requests ({REQUESTS} sequential requests per weight)")
        print(f"{'weight':>6}{'serin':>8}{'nginx':>8}{'haproxy':>9}{'ingress-nginx (sim.) median / worst':>38}")
        for r in rows:
            print(f"{r['weight']:>6}{r['serin']:>8}{r['nginx']:>8}{r['haproxy']:>9}{r['ingress-nginx median']:>30g} / {r['ingress-nginx worst']}")
        print(f"worst serin={max(r['serin'] for r in rows)} nginx={max(r['nginx'] for r in rows)} haproxy={max(r['haproxy'] for r in rows)}")
    finally:
        bench.stop()


main()
