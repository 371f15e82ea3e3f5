#!/usr/bin/env python3
"""What one open operator page costs the scheduler with a long queue.

    scripts/bench/operator-page-cpu.py --bin-dir .build/release [--queued 10000] [--seconds 60]

Starts a simulated upstream that never answers and a scheduler in front of it (one request in flight, constant
predictions, no predictor), queues `--queued` requests from 500 tenants, then measures the scheduler's CPU time
(utime + stime from /proc/<pid>/stat) for `--seconds` with nothing polling, and again while a client fetches
/ui/state and /ui/accounts every 1.5 s as the page does. Prints the two shares of one core, their difference, and
the size and latency of /ui/state. With --chromium it also measures a third period with the page open in headless
Chromium, and times Chromium rendering the page once.
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

POLL_SECONDS = 1.5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, env, log):
    merged = dict(os.environ, **env)
    process = subprocess.Popen([binary], env=merged, stdout=log, stderr=subprocess.STDOUT)
    port = int(env["PORT"])
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    sys.exit(f"{binary} did not start")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def submit_all(port, count, threads=8):
    def worker(indices):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for index in indices:
            body = json.dumps({
                "model": "gpt-4o-mini", "prompt": f"queued request {index}", "max_tokens": 200,
                "tenant_id": f"tenant-{index % 500}", "deadline_ms": 3_600_000,
            })
            connection.request("POST", "/submit", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 202:
                sys.exit(f"submit answered {response.status}")
    chunks = [range(start, count, threads) for start in range(threads)]
    workers = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def measure_browser(pid, seconds, port, work):
    browser = subprocess.Popen([shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
                                f"--user-data-dir={os.path.join(work, 'open-page')}", "--remote-debugging-port=0",
                                f"http://127.0.0.1:{port}/ui"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)
        return measure(pid, seconds)[0]
    finally:
        browser.kill()
        browser.wait()


def measure(pid, seconds, poll_port=None):
    sizes, latencies = [], []
    stop = time.time() + seconds
    before = cpu_seconds(pid)
    started = time.time()
    if poll_port is None:
        time.sleep(seconds)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", poll_port, timeout=30)
        while time.time() < stop:
            tick = time.time()
            for path in ("/ui/state", "/ui/accounts"):
                t0 = time.perf_counter()
                connection.request("GET", path)
                body = connection.getresponse().read()
                if path == "/ui/state":
                    latencies.append((time.perf_counter() - t0) * 1000)
                    sizes.append(len(body))
            time.sleep(max(0, POLL_SECONDS - (time.time() - tick)))
    elapsed = time.time() - started
    return (cpu_seconds(pid) - before) / elapsed * 100, sizes, latencies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=".build/release")
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--chromium", action="store_true", help="also time headless Chromium rendering the page")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="maitre-operator-bench-")
    log = open(os.path.join(work, "services.log"), "w")
    mock_port, scheduler_port = free_port(), free_port()
    mock = start(os.path.join(args.bin_dir, "maitre-mock-llm"), {
        "PORT": str(mock_port), "DATA_DIR": work, "LOG_LEVEL": "error",
        "MOCK_FAULT_HANG_RATE": "1", "MOCK_FAULT_HANG_SECONDS": "3600"}, log)
    scheduler = start(os.path.join(args.bin_dir, "maitre-scheduler"), {
        "PORT": str(scheduler_port), "DATA_DIR": work, "LOG_LEVEL": "error", "PREDICTIONS": "constant",
        "PROXY_URLS": f"http://127.0.0.1:{mock_port}", "MAX_INFLIGHT_REQUESTS": "1",
        "HEAVY_DEADLINE_MS": "3600000", "INTERACTIVE_DEADLINE_MS": "3600000"}, log)
    try:
        submit_all(scheduler_port, args.queued)
        time.sleep(5)
        idle, _, _ = measure(scheduler.pid, args.seconds)
        polled, sizes, latencies = measure(scheduler.pid, args.seconds, poll_port=scheduler_port)
        connection = http.client.HTTPConnection("127.0.0.1", scheduler_port, timeout=30)
        connection.request("GET", "/ui/state")
        state = json.loads(connection.getresponse().read())
        result = {
            "queued": state["queued_total"], "tenants_waiting": state["tenants_waiting"],
            "seconds": args.seconds,
            "scheduler_cpu_percent_idle": round(idle, 3), "scheduler_cpu_percent_page": round(polled, 3),
            "page_cost_percent": round(polled - idle, 3),
            "ui_state_bytes_max": max(sizes), "ui_state_ms_p50": round(statistics.median(latencies), 2),
            "ui_state_ms_max": round(max(latencies), 2),
        }
        chromium = shutil.which("chromium")
        if args.chromium and chromium:
            open_page = measure_browser(scheduler.pid, args.seconds, scheduler_port, work)
            result["scheduler_cpu_percent_chromium_page"] = round(open_page, 3)
            result["chromium_page_cost_percent"] = round(open_page - idle, 3)
            t0 = time.perf_counter()
            dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                  f"--user-data-dir={os.path.join(work, 'profile')}", "--virtual-time-budget=3000",
                                  "--dump-dom", f"http://127.0.0.1:{scheduler_port}/ui"],
                                 capture_output=True, text=True, timeout=120).stdout
            result["chromium_render_s"] = round(time.perf_counter() - t0, 2)
            result["chromium_rendered"] = 'data-ready="true"' in dom
        print(json.dumps(result, indent=2))
    finally:
        scheduler.kill()
        mock.kill()
        scheduler.wait()
        mock.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
