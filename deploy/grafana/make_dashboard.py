#!/usr/bin/env python3
"""Writes deploy/grafana/dashboards/maitre.json, the dashboard Grafana provisions in the compose profile
`observability`. Edit the panels here and rerun: python3 deploy/grafana/make_dashboard.py
(--print writes it to standard output instead; the tests compare that with the committed file)."""
import json
import pathlib
import sys

DATASOURCE = {"type": "prometheus", "uid": "maitre-prometheus"}


def target(expr, legend, ref):
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(title, targets, x, y, w=12, h=8, kind="timeseries", unit="short", description=""):
    refs = "ABCDEFGH"
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]}},
        "targets": [target(expr, legend, refs[i]) for i, (expr, legend) in enumerate(targets)],
    }


def congestion_panel(x, y):
    """The scheduler's mode as a state timeline: the gauge is 0 free, 1 moderate, 2 congested."""
    result = panel("Congestion mode", [("max(scheduler_congestion_mode)", "mode")], x, y, kind="state-timeline",
                   description="The scheduler's congestion mode: free, moderate or congested.")
    result["fieldConfig"]["defaults"]["mappings"] = [{
        "type": "value",
        "options": {
            "0": {"text": "free", "color": "green", "index": 0},
            "1": {"text": "moderate", "color": "yellow", "index": 1},
            "2": {"text": "congested", "color": "red", "index": 2},
        },
    }]
    return result


def row(title, y):
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}


def quantiles(metric, by=""):
    grouping = f"{by}, le" if by else "le"
    legend_prefix = "{{" + by + "}} " if by else ""
    return [
        (f"histogram_quantile({q}, sum by ({grouping}) (rate({metric}_bucket[5m])))", f"{legend_prefix}p{int(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    ]


panels = [
    row("Scheduler", 0),
    panel("Queue depth per class", [("sum by (class) (scheduler_queue_length)", "{{class}}")], 0, 1,
          description="Requests waiting in the scheduler, per request class."),
    congestion_panel(12, 1),
    panel("Token budgets in use per class", [
        ("sum by (class) (scheduler_inflight_tokens)", "{{class}} in flight"),
        ("sum by (class) (scheduler_inflight_budget_tokens)", "{{class}} budget"),
    ], 0, 9, description="Tokens dispatched and not yet finished, against the class's budget."),
    panel("Rejections by reason", [
        # scheduler_rejected_requests is a gauge holding a running total; rate() treats it as the counter it is.
        ("sum by (reason) (rate(scheduler_rejected_requests[1m]))", "scheduler {{reason}}"),
        ("sum(rate(proxy_queue_rejected_total[1m]))", "proxy queue full"),
        ("sum(rate(proxy_queue_timeouts_total[1m]))", "proxy deadline in queue"),
        ("sum by (account) (rate(proxy_account_calls_total{outcome=\"rate_limited\"}[1m]))", "upstream 429 {{account}}"),
    ], 12, 9, unit="reqps"),
    row("Proxy (every replica)", 17),
    panel("AIMD window per account", [("proxy_account_window", "{{account}} @ {{instance}}")], 0, 18,
          description="Each proxy replica keeps its own windows; one line per account and replica."),
    panel("In flight per account", [("sum by (account) (proxy_account_in_flight)", "{{account}}")], 12, 18),
    panel("Upstream latency percentiles", quantiles("proxy_upstream_latency_seconds"), 0, 26, unit="s"),
    panel("Time to first token percentiles", quantiles("proxy_upstream_ttft_seconds"), 12, 26, unit="s"),
    panel("Upstream calls by outcome", [("sum by (outcome) (rate(proxy_account_calls_total[1m]))", "{{outcome}}")], 0, 34,
          unit="reqps"),
    panel("Proxy wait queue", [
        ("sum by (instance) (proxy_queue_depth)", "{{instance}}"),
        ("max by (account) (proxy_account_cooling)", "cooling {{account}}"),
    ], 12, 34),
    row("Services", 42),
    panel("HTTP requests by service and status", [("sum by (job, status) (rate(http_requests_total[1m]))", "{{job}} {{status}}")],
          0, 43, unit="reqps"),
    panel("HTTP p95 latency by service", [
        ("histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))", "{{job}}"),
    ], 12, 43, unit="s"),
    panel("Targets up", [("up", "{{job}} {{instance}}")], 0, 51),
    panel("Scheduler slowdown and outcomes", [
        ("max(scheduler_slowdown_ratio)", "slowdown (tpot / baseline)"),
        ("rate(scheduler_dispatched_requests[1m])", "dispatched/s"),
        ("rate(scheduler_completed_requests[1m])", "completed/s"),
        ("rate(scheduler_expired_requests[1m])", "expired/s"),
        ("rate(scheduler_failed_requests[1m])", "failed/s"),
    ], 0, 59),
    panel("Simulated upstream load", [
        ("sum(mock_llm_in_flight)", "in flight"),
        ("sum(mock_llm_queue_depth)", "waiting"),
    ], 12, 51),
]

dashboard = {
    "uid": "maitre-overview",
    "title": "maitre",
    "tags": ["maitre"],
    "timezone": "utc",
    "schemaVersion": 39,
    "version": 1,
    "editable": False,
    "refresh": "10s",
    "time": {"from": "now-30m", "to": "now"},
    "templating": {"list": []},
    "annotations": {"list": []},
    "panels": panels,
}

text = json.dumps(dashboard, indent=2) + "\n"
if "--print" in sys.argv:
    sys.stdout.write(text)
else:
    out = pathlib.Path(__file__).resolve().parent / "dashboards" / "maitre.json"
    out.write_text(text)
    print(f"wrote {out}")
