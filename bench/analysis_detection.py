#!/usr/bin/env python3
"""Time from a canary's first failure to "aborted, weight 0, no request reaches it", and the
user requests that failed meanwhile: serin's native provider against a Prometheus analysis at
common settings (scrape every 15s, interval 1m, failureLimit 0), in the same run.

Run from the repository root: python3 bench/analysis_detection.py  (bench/analysis-detection.sh
builds serin and installs Prometheus first). The canary fails every request at weight 10
under about 200 requests/s. serin retries only failed connects, never answered requests, so
retries play no part here.
"""
import json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIN = os.path.join(ROOT, "target/release/serin")
SEED = os.path.join(ROOT, "examples/argo-demo/argorollout-canary")

NATIVE = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  metrics:
  - name: success-rate
    interval: 500ms
    successCondition: result >= 0.95
    failureLimit: 0
    inconclusiveLimit: 4
    provider:
      serin:
        metric: success-rate
        window: 1s
        minRequests: 5
"""

PROMETHEUS = """apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: canary-hash
  metrics:
  - name: success-rate
    interval: 1m
    successCondition: result[0] >= 0.95
    failureLimit: 0
    inconclusiveLimit: 4
    provider:
      prometheus:
        address: ADDRESS
        query: |
          (sum(rate(serin_router_requests_total{revision="{{args.canary-hash}}",code!="5xx"}[1m])) or vector(0))
          / sum(rate(serin_router_requests_total{revision="{{args.canary-hash}}"}[1m]))
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rollout(image, fail_percent):
    text = open(os.path.join(SEED, "rollout.yaml")).read()
    text = text.replace("      steps:  # 发布的节奏", "      analysis:\n        startingStep: 1\n        templates:\n        - templateName: success-rate\n        args:\n        - name: canary-hash\n          valueFrom:\n            podTemplateHashValue: Latest\n      steps:")
    text = text.replace("ikubernetes/myapp:v1", image)
    return text.replace("        ports:\n        - name: http", f"        env:\n        - name: FAIL_PERCENT\n          value: \"{fail_percent}\"\n        ports:\n        - name: http")


class Run:
    def __init__(self, name, template):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="serin-bench-")
        self.env = dict(os.environ, SERIN_DATA_DIR=os.path.join(self.dir, "data"))
        self.server = subprocess.Popen([SERIN, "server", "--api", "127.0.0.1:0", "--entrypoint", "web=127.0.0.1:0"], env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "server.log"), "w"))
        info = os.path.join(self.dir, "data", "server.json")
        while not os.path.exists(info):
            time.sleep(0.05)
        time.sleep(0.1)
        info = json.load(open(info))
        self.api, self.web = info["api"], info["entrypoints"]["web"]
        self.prometheus = None
        if "ADDRESS" in template:
            port = free_port()
            config = os.path.join(self.dir, "prometheus.yml")
            open(config, "w").write(f"global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: serin\n  static_configs:\n  - targets: ['{self.api[7:]}']\n")
            self.prometheus = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.dir}/tsdb",
                                                f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            template = template.replace("ADDRESS", f"http://127.0.0.1:{port}")
        self.manifests = os.path.join(self.dir, "manifests")
        os.makedirs(self.manifests)
        for f in ("service.yaml", "ingress.yaml"):
            shutil.copy(os.path.join(SEED, f), self.manifests)
        open(os.path.join(self.manifests, "template.yaml"), "w").write(template)
        open(os.path.join(self.manifests, "rollout.yaml"), "w").write(rollout("ikubernetes/myapp:v1", 0))
        self.serin("apply", "-f", self.manifests)
        self.wait(lambda s: s.get("phase") == "Healthy" and s.get("availableReplicas") == 10, 60)

    def serin(self, *args):
        return subprocess.run([SERIN, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def status(self):
        url = f"{self.api}/api/v1/object?group=argoproj.io&kind=Rollout&namespace=default&name=canary-rollout"
        return json.load(urllib.request.urlopen(url)).get("status", {})

    def canary_weight(self):
        url = f"{self.api}/api/v1/object?group=traefik.io&kind=TraefikService&namespace=default&name=canary-service"
        services = json.load(urllib.request.urlopen(url))["spec"]["weighted"]["services"]
        return services[0].get("weight")

    def wait(self, check, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.status()
            if check(s):
                return s
            time.sleep(0.02)
        raise SystemExit(f"{self.name}: timed out; status {json.dumps(self.status())}")

    def stop(self):
        self.server.terminate()
        self.server.wait(timeout=60)
        if self.prometheus:
            self.prometheus.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def load(web, stop, log):
    host, port = web.split(":")
    while not stop.is_set():
        started = time.time()
        try:
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            text = data.decode(errors="replace")
            status = int(text.split()[1])
            log.append((time.time(), status, "v2" if "v2" in text else ("v1" if "v1" in text else "?")))
        except Exception:
            log.append((time.time(), 0, "error"))
        time.sleep(max(0.0, 0.02 - (time.time() - started)))


def measure(name, template):
    run = Run(name, template)
    try:
        log, stop = [], threading.Event()
        threads = [threading.Thread(target=load, args=(run.web, stop, log)) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(2)
        open(os.path.join(run.manifests, "rollout.yaml"), "w").write(rollout("ikubernetes/myapp:v2", 100))
        run.serin("apply", "-f", run.manifests)
        aborted = run.wait(lambda s: s.get("abort"), 300)
        while run.canary_weight() != 0:
            time.sleep(0.02)
        t_weight0 = time.time()
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join()
        failures = [e for e in log if e[1] >= 500 or e[1] == 0]
        canary = [e for e in log if e[2] == "v2" or e[1] >= 500]
        first_failure = failures[0][0]
        last_canary = max(e[0] for e in canary)
        end = max(t_weight0, last_canary)
        seconds = time.time() - log[0][0]
        rate = len(log) / seconds
        return {"name": name, "detect": end - first_failure, "failed": len(failures), "rate": rate,
                "message": aborted.get("message", "")}
    finally:
        run.stop()


def main():
    if not os.path.exists(SERIN):
        sys.exit("build first: cargo build --release (bench/analysis-detection.sh does)")
    results = [measure("serin native (500ms interval, 1s window)", NATIVE),
               measure("Prometheus (scrape 15s, interval 1m, failureLimit 0)", PROMETHEUS)]
    print(f"{'analysis':<55} {'first failure -> no canary traffic':>36} {'failed requests':>16} {'load req/s':>11}")
    for r in results:
        print(f"{r['name']:<55} {r['detect']:>35.2f}s {r['failed']:>16} {r['rate']:>11.0f}")
    native, prom = results
    print(f"ratio prometheus/native detection={prom['detect'] / native['detect']:.1f}x failed={prom['failed'] / max(native['failed'], 1):.1f}x")


if __name__ == "__main__":
    main()
