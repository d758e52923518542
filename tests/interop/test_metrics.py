"""`/metrics` read by the Prometheus project's own Python client: its
OpenMetrics parser (`prometheus_client.openmetrics.parser`) is strict — one
family per name, `# EOF` last, histogram buckets cumulative up to `+Inf`
with `_count` equal to the `+Inf` bucket — so a document it accepts is one
a Prometheus server scrapes."""

import json
import subprocess
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from udp_hid import keysmith_binary


def admin(data, *args):
    out = subprocess.run([keysmith_binary(), "admin", "--data-dir", str(data), "--json", *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def test_metrics_parse_as_openmetrics(tmp_path):
    data = tmp_path / "data"
    admin(data, "tenant", "create", "contoso", "--rp-id", "login.contoso.com")
    # The metrics listener of its own (no token), on a free port.
    probe = subprocess.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"],
                           check=True, capture_output=True, text=True)
    metrics_addr = f"127.0.0.1:{probe.stdout.strip()}"
    proc = subprocess.Popen([keysmith_binary(), "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0",
                             "--set", f"metrics_listen={metrics_addr}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read()
        # Some requests to count: a discovery document and a 404.
        urllib.request.urlopen(f"{url}/contoso/v2.0/.well-known/openid-configuration").read()
        try:
            urllib.request.urlopen(f"{url}/v1.0/nothing")
        except urllib.error.HTTPError as e:
            assert e.code in (401, 404)
        with urllib.request.urlopen(f"http://{metrics_addr}/metrics") as r:
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            text = r.read().decode()
    finally:
        proc.kill()
        proc.wait()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, kind in [("keysmith_http_requests", "counter"),
                       ("keysmith_http_request_duration_seconds", "histogram"),
                       ("keysmith_db_commits", "counter"),
                       ("keysmith_db_write_jobs", "counter"),
                       ("keysmith_rate_limit_per_minute", "gauge"),
                       ("keysmith_rate_limited", "counter")]:
        assert name in families, f"{name} not in {sorted(families)}"
        assert families[name].type == kind, (name, families[name].type)
    served = [s for s in families["keysmith_http_requests"].samples
              if s.labels.get("route") == "/{tenant}/v2.0/.well-known/openid-configuration"]
    assert served and served[0].value >= 1, families["keysmith_http_requests"].samples
