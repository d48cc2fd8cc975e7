#!/usr/bin/env python3
"""Fake `trtllm-serve` for the perf-run stub TensorRT-LLM checkout (stdlib + PyYAML only).

Two modes, with the command lines test_perf_sanity.py uses upstream:

  serve.py <model> --backend B --config <extra-llm-api-config.yml> --host H --port 0 --report_addr F
      A worker / aggregated server. GET /health -> 200, GET /v1/models, POST /v1/completions
      (and /v1/chat/completions) -> OpenAI-style JSON with `max_tokens` fake tokens.

  serve.py disaggregated -c <server_config.yaml> -t T -r R --report_addr F
      A router. GET /health -> 200 only when every ctx/gen worker in the config answers its
      /health with 200 (503 otherwise). POST /v1/completions -> prefill on a ctx worker
      (max_tokens=1, if there are ctx workers), then the request on a gen worker; an error
      status from either is passed back to the client.

The server binds 0.0.0.0 on a kernel-chosen port and writes "<host>:<port>" to the
--report_addr file (via a ".tmp" sibling and rename), where host is
socket.gethostbyname(socket.gethostname()) if that address accepts a connection, else 127.0.0.1.

Environment: STUB_SERVER_ROLE (AGGR | CTX_<i> | GEN_<i> | DISAGG_SERVER, set by the test),
PERF_RUN_STUB_FAIL (worker_crash | failed_requests | zero_tokens | hang),
PERF_RUN_STUB_FAIL_ROLE (default GEN_0), PERF_RUN_STUB_STARTUP_S and PERF_RUN_STUB_STARTUP_ROLE
(default GEN_0): that role's server prints one "loading" line and then nothing for that many
seconds before it binds and publishes its address (a slow-starting worker; not upstream).
Knob effects here:
  worker_crash     the AGGR server, or the role named by PERF_RUN_STUB_FAIL_ROLE, exits with
                   code 1 right after publishing its address.
  failed_requests  AGGR and GEN_* servers answer HTTP 500 to request i when i % 4 == 0 (i from the
                   X-Stub-Request-Index header; keep in sync with stub_numbers.FAIL_EVERY).
  zero_tokens      AGGR and GEN_* servers return 0 tokens.
The server also exits when its parent process dies, so a killed test never leaks a server.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

FAIL_EVERY = 4  # stub_numbers.FAIL_EVERY
ROLE = os.environ.get("STUB_SERVER_ROLE", "AGGR")
KNOB = os.environ.get("PERF_RUN_STUB_FAIL", "").strip()
FAIL_ROLE = os.environ.get("PERF_RUN_STUB_FAIL_ROLE", "").strip() or "GEN_0"
SERVES_TOKENS = ROLE == "AGGR" or ROLE.startswith("GEN_")
STARTUP_ROLE = os.environ.get("PERF_RUN_STUB_STARTUP_ROLE", "").strip() or "GEN_0"


def log(msg):
    print(f"[stub trtllm-serve {ROLE}] {msg}", flush=True)


def advertised_host(port):
    """An address of this host that other tasks can connect to."""
    try:
        ip = socket.gethostbyname(socket.gethostname())
        with socket.create_connection((ip, port), timeout=2):
            return ip
    except OSError:
        return "127.0.0.1"


def report_addr(path, host, port):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{host}:{port}\n")
    os.replace(tmp, path)
    log(f"reported address {host}:{port} to {path}")


def http(method, url, body=None, headers=None, timeout=60):
    """(status, body bytes) of one request; connection errors give status 0."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StubTrtllmServe/0"

    def log_message(self, fmt, *args):
        log(fmt % args)

    def reply(self, status, obj):
        data = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            status, detail = self.server.app.health()
            self.reply(status, {"status": "ok" if status == 200 else "unhealthy", "detail": detail})
        elif self.path == "/v1/models":
            self.reply(200, {"object": "list", "data": [{"id": self.server.app.model}]})
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            self.reply(404, {"error": f"no route {self.path}"})
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            self.reply(400, {"error": "request body is not JSON"})
            return
        index = int(self.headers.get("X-Stub-Request-Index") or 0)
        status, obj = self.server.app.complete(request, index, body)
        self.reply(status, obj)


class Worker:
    """Aggregated server or ctx/gen worker."""

    def __init__(self, model):
        self.model = model

    def health(self):
        return 200, "ok"

    def complete(self, request, index, _raw):
        if KNOB == "failed_requests" and SERVES_TOKENS and index % FAIL_EVERY == 0:
            return 500, {"error": f"stub: PERF_RUN_STUB_FAIL=failed_requests fails request {index}"}
        prompt = request.get("prompt", request.get("messages", ""))
        prompt_tokens = len(prompt) if isinstance(prompt, list) else len(str(prompt).split())
        n = int(request.get("max_tokens") or 16)
        if KNOB == "zero_tokens" and SERVES_TOKENS:
            n = 0
        return 200, {
            "id": f"cmpl-stub-{index}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "text": " tok" * n, "finish_reason": "length"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n,
                      "total_tokens": prompt_tokens + n},
        }


class Router:
    """`trtllm-serve disaggregated`: forwards to ctx then gen workers."""

    def __init__(self, config):
        self.model = "disaggregated"
        self.ctx = list((config.get("context_servers") or {}).get("urls") or [])
        self.gen = list((config.get("generation_servers") or {}).get("urls") or [])
        if not self.gen:
            raise SystemExit("server config has no generation_servers urls")

    def health(self):
        bad = [u for u in self.ctx + self.gen if http("GET", f"http://{u}/health", timeout=2)[0] != 200]
        return (503, f"workers not healthy: {bad}") if bad else (200, "all workers healthy")

    def complete(self, request, index, raw):
        headers = {"Content-Type": "application/json", "X-Stub-Request-Index": str(index)}
        if self.ctx:
            prefill = dict(request, max_tokens=1)
            url = f"http://{self.ctx[index % len(self.ctx)]}/v1/completions"
            status, body = http("POST", url, json.dumps(prefill).encode(), headers)
            if status != 200:
                return status or 502, body or b"{}"
        url = f"http://{self.gen[index % len(self.gen)]}/v1/completions"
        status, body = http("POST", url, raw, headers)
        return status or 502, body


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            log("parent process is gone; exiting")
            os._exit(0)


def main(argv):
    if argv[:1] == ["disaggregated"]:
        p = argparse.ArgumentParser(prog="trtllm-serve disaggregated")
        p.add_argument("-c", "--config_file", required=True)
        p.add_argument("-t", "--server_start_timeout", type=int, default=180)
        p.add_argument("-r", "--request_timeout", type=int, default=180)
        p.add_argument("--report_addr", default=None)
        args = p.parse_args(argv[1:])
        with open(args.config_file) as f:
            config = yaml.safe_load(f) or {}
        app = Router(config)
        log(f"disaggregated router: ctx={app.ctx} gen={app.gen}")
    else:
        p = argparse.ArgumentParser(prog="trtllm-serve")
        p.add_argument("model")
        p.add_argument("--backend", default="pytorch")
        p.add_argument("--config", "--extra_llm_api_options", dest="config", default=None)
        p.add_argument("--host", default="localhost")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--report_addr", default=None)
        args = p.parse_args(argv)
        llm_args = {}
        if args.config:
            with open(args.config) as f:
                llm_args = yaml.safe_load(f) or {}
        app = Worker(args.model)
        log(f"model={args.model} backend={args.backend} config={args.config}")
        log("parallelism: tp={} ep={} pp={} cp={} max_batch_size={}".format(
            llm_args.get("tensor_parallel_size", 1), llm_args.get("moe_expert_parallel_size", 1),
            llm_args.get("pipeline_parallel_size", 1), llm_args.get("context_parallel_size", 1),
            llm_args.get("max_batch_size", 512)))
    log("env: " + " ".join(f"{k}={os.environ.get(k, '')}" for k in (
        "CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID", "SLURMD_NODENAME")))

    threading.Thread(target=exit_with_parent, daemon=True).start()
    startup = os.environ.get("PERF_RUN_STUB_STARTUP_S", "").strip()
    if startup and ROLE == STARTUP_ROLE:
        try:
            delay = float(startup)
            if not 0 <= delay < 86400:
                raise ValueError
        except ValueError:
            log(f"PERF_RUN_STUB_STARTUP_S={startup!r} is not a number of seconds")
            sys.exit(1)
        log(f"loading the model weights (PERF_RUN_STUB_STARTUP_S={startup}: ready in {delay:g} s)")
        time.sleep(delay)
    httpd = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    httpd.daemon_threads = True
    httpd.app = app
    port = httpd.server_address[1]
    host = advertised_host(port)
    if args.report_addr:
        report_addr(args.report_addr, host, port)
    if KNOB == "worker_crash" and (ROLE == "AGGR" or ROLE == FAIL_ROLE):
        log("PERF_RUN_STUB_FAIL=worker_crash: simulated crash right after publishing the address")
        os._exit(1)
    log(f"serving on 0.0.0.0:{port} (advertised {host}:{port})")
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
