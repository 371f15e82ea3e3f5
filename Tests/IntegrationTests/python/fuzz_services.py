#!/usr/bin/env python3
"""Fuzzes the four live services with schemathesis (PyPI) from the OpenAPI document each one serves.

Usage: python3 fuzz_services.py BIN_DIR [--cases N] [--services a,b] [--seed S] [--time-limit SECONDS]
                                      [--phases examples,coverage,fuzzing] [--keep]

Starts maitre-mock-llm, maitre-predictor, maitre-proxy (mock upstream) and maitre-scheduler
(admin token on) from BIN_DIR on free loopback ports, runs `schemathesis run <base>/openapi.json` against each
with the checks not_a_server_error, status_code_conformance, content_type_conformance and
response_schema_conformance, then checks every process is still alive. At least N cases per service are
generated (N divided over the operations that take parameters or a body, rounded up). Prints one JSON summary line last; exits 1
when a check failed, a service died, or schemathesis could not run.
"""
import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ADMIN_TOKEN = "fuzz-admin-token"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    def __init__(self, name, product, bin_dir, work, environment):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(work, f"{name}.log")
        data = os.path.join(work, f"{name}-data")
        os.makedirs(data, exist_ok=True)
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(self.port), DATA_DIR=data, LOG_LEVEL="warning")
        env.update(environment)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [os.path.join(bin_dir, product)], env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not become healthy:\n{self.tail()}")

    def operations(self):
        """(all operations, operations with inputs to vary): a route without parameters or body yields only a
        handful of distinct cases, so the case budget is spread over the others."""
        with urllib.request.urlopen(f"{self.base}/openapi.json", timeout=5) as answer:
            document = json.load(answer)
        operations = [op for item in document["paths"].values() for method, op in item.items()
                      if method in ("get", "post")]
        varied = [op for op in operations if op.get("parameters") or op.get("requestBody")]
        return len(operations), max(1, len(varied))

    def alive(self):
        return self.process.poll() is None

    def tail(self, lines=30):
        self.log.flush()
        with open(self.log_path, "rb") as handle:
            return b"\n".join(handle.read().splitlines()[-lines:]).decode("utf-8", "replace")

    def stop(self):
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def run_schemathesis():
    """schemathesis's CLI, with one work-around: on Python 3.11.7, Hypothesis's lambda pretty-printer can hit
    CPython's spurious `SystemError: AST constructor recursion depth mismatch` (fixed in 3.11.8) and abort
    the run; a failed pretty-print only costs a less readable strategy name."""
    from hypothesis.internal import lambda_sources
    from schemathesis.cli import schemathesis

    describe = lambda_sources._lambda_description

    def tolerant(function):
        try:
            return describe(function)
        except (SystemError, RecursionError):
            return "lambda: <unknown>"

    lambda_sources._lambda_description = tolerant
    sys.argv[0] = "schemathesis"
    sys.exit(schemathesis())


def schemathesis_command():
    return [sys.executable, os.path.abspath(__file__), "--run-schemathesis"]


def fuzz(service, cases, seed, headers, time_limit, phases, work):
    operations, varied = service.operations()
    per_operation = max(1, math.ceil(cases / varied))
    report = os.path.join(work, f"{service.name}-report.ndjson")
    command = schemathesis_command() + [
        "run", f"{service.base}/openapi.json",
        "--checks", CHECKS,
        "--max-examples", str(per_operation),
        "--phases", phases,
        "--seed", str(seed),
        "--request-timeout", "30",
        "--workers", "2",
        "--generation-database", "none",
        "--no-color",
        "--report", "ndjson", "--report-ndjson-path", report,
    ]
    if time_limit:
        command += ["--max-time", str(time_limit)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    started = time.monotonic()
    # From the scratch folder, so schemathesis's own cache folder never lands in the repository.
    result = subprocess.run(command, capture_output=True, text=True, cwd=work)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    return {
        "service": service.name,
        "operations": operations,
        "max_examples_per_operation": per_operation,
        "cases": generated_cases(output),
        "server_errors": server_errors(report),
        "exit_code": result.returncode,
        "seconds": round(elapsed, 1),
        "alive": service.alive(),
    }, output


def generated_cases(output):
    """The total schemathesis prints (`Test cases: N generated, ...`)."""
    match = re.search(r"Test cases:\s*\n?\s*(\d+)\s+generated", output)
    if match:
        return int(match.group(1))
    match = re.search(r"(\d+)\s+generated", output)
    return int(match.group(1)) if match else None


def server_errors(report):
    """Responses with a 5xx status in the run's ndjson report."""
    count = 0
    if not os.path.exists(report):
        return None
    with open(report, encoding="utf-8") as handle:
        for line in handle:
            count += len(re.findall(r'"status_code":\s*5\d\d', line))
    return count


def main():
    if sys.argv[1:2] == ["--run-schemathesis"]:
        del sys.argv[1]
        run_schemathesis()
    parser = argparse.ArgumentParser()
    parser.add_argument("bin_dir")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--services", default="mock-llm,predictor,proxy,scheduler")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--time-limit", type=int, default=0, help="per service, seconds (0: none)")
    parser.add_argument("--phases", default="examples,coverage,fuzzing", help="schemathesis phases to run")
    parser.add_argument("--keep", action="store_true", help="keep the logs and reports folder")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="maitre-fuzz-")
    services = {}
    summary = {"results": [], "work": work}
    failed = False
    try:
        services["mock-llm"] = Service("mock-llm", "maitre-mock-llm", args.bin_dir, work, {
            "MOCK_LATENCY_PROFILE": "instant", "MOCK_FAULT_HEADER": "false", "MOCK_MAX_OUTPUT_TOKENS": "64"})
        services["predictor"] = Service("predictor", "maitre-predictor", args.bin_dir, work, {})
        services["proxy"] = Service("proxy", "maitre-proxy", args.bin_dir, work, {
            "PROXY_DEFAULT_UPSTREAM": f"{services['mock-llm'].base}/v1",
            "PREDICTOR_BASE_URL": services["predictor"].base})
        services["scheduler"] = Service("scheduler", "maitre-scheduler", args.bin_dir, work, {
            "PROXY_URLS": services["proxy"].base, "PREDICTOR_BASE_URL": services["predictor"].base,
            "ADMIN_TOKEN": ADMIN_TOKEN})
        # The proxy runs without client keys so the scheduler's front door reaches the upstream; the security
        # tests cover the keys. The admin token opens the scheduler's /admin/config and /reset to the fuzzer.
        headers = {"scheduler": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
        for name in args.services.split(","):
            result, output = fuzz(services[name], args.cases, args.seed, headers.get(name, {}), args.time_limit, args.phases,
                                  work)
            summary["results"].append(result)
            print(f"== {name}: {json.dumps(result)}", file=sys.stderr)
            if result["exit_code"] != 0 or not result["alive"] or result["server_errors"]:
                failed = True
                print(output[-20000:], file=sys.stderr)
                print(f"-- {name} log tail:\n{services[name].tail()}", file=sys.stderr)
        for service in services.values():
            if not service.alive():
                failed = True
                print(f"{service.name} died (exit status {service.process.returncode}):\n{service.tail()}",
                      file=sys.stderr)
    except Exception as error:  # start-up failures: report and fail
        failed = True
        print(f"fuzz run failed: {error}", file=sys.stderr)
    finally:
        for service in services.values():
            service.stop()
        if not args.keep and not failed:
            shutil.rmtree(work, ignore_errors=True)
    summary["passed"] = not failed
    print(json.dumps(summary))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
