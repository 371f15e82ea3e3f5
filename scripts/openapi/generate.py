#!/usr/bin/env python3
"""Writes the OpenAPI 3.1 documents of the four services, and the Swift file each service embeds them from.

    python3 scripts/openapi/generate.py          # writes deploy/openapi/*.json and Services/*/Service/OpenAPI/*.swift
    python3 scripts/openapi/generate.py --check  # exits 1 when a committed file differs from what would be written

The schemas mirror the wire types in Shared/Contracts (snake_case keys, as their CodingKeys say);
Tests/DeploymentTests/OpenAPIContractTests.swift checks that every route and every JSON key agrees with the code.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def array(items, **extra):
    return {"type": "array", "items": items, **extra}


def nullable(schema):
    return {"anyOf": [schema, {"type": "null"}]}


def string_map(values):
    return {"type": "object", "additionalProperties": values}


def obj(description, properties, required=()):
    schema = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def enum(description, values):
    return {"type": "string", "description": description, "enum": values}


SCHEMAS = {
    # Shared/Contracts/Common
    "ErrorEnvelope": obj("OpenAI's error envelope; every error of every service has this shape.",
                         {"error": ref("ErrorBody")}, ["error"]),
    "ErrorBody": obj("The error itself; `code` and `param` are explicit nulls when unknown.", {
        "message": STRING, "type": STRING, "code": nullable(STRING), "param": nullable(STRING),
    }, ["message", "type", "code", "param"]),
    "HealthResponse": obj("Liveness and identity of a service.", {
        "status": STRING, "service": STRING, "version": STRING, "uptime_seconds": NUMBER,
        "details": string_map(STRING),
    }, ["status", "service", "version", "uptime_seconds", "details"]),
    "MetricsSnapshot": obj("`/metrics` as JSON: metric families plus the service's readable state.", {
        "service": STRING, "metrics": string_map(ref("MetricFamily")), "state": {},
    }, ["service", "metrics"]),
    "MetricFamily": obj("One Prometheus metric family.", {
        "type": STRING, "help": STRING, "samples": array(ref("MetricSample")),
    }, ["type", "samples"]),
    "MetricSample": obj("One sample of a metric family.", {
        "name": STRING, "labels": string_map(STRING), "value": NUMBER,
    }, ["name", "labels", "value"]),
    # Shared/Contracts/OpenAI
    "ChatMessage": obj("One message of a conversation; `content` is text or typed parts.", {
        "role": STRING,
        "content": {"anyOf": [STRING, array(ref("ContentPart")), {"type": "null"}]},
        "name": STRING,
    }, ["role"]),
    "ContentPart": obj("A typed part of a message's content; only text parts count for tokens.",
                       {"type": STRING, "text": STRING}, ["type"]),
    "StreamOptions": obj("`stream_options` of a streaming request.", {"include_usage": BOOLEAN}),
    "ChatCompletionRequest": obj("OpenAI chat completion request: the fields maitre reads (others pass through).", {
        "model": STRING,
        "messages": array(ref("ChatMessage"), minItems=1),
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "stream": BOOLEAN,
        "stream_options": ref("StreamOptions"),
        "temperature": NUMBER,
        "n": INTEGER,
        "user": STRING,
    }, ["model", "messages"]),
    "Usage": obj("Token usage of a completion.", {
        "prompt_tokens": INTEGER, "completion_tokens": INTEGER, "total_tokens": INTEGER,
    }, ["prompt_tokens", "completion_tokens", "total_tokens"]),
    "ChatCompletionResponse": obj("Non-streaming `chat.completion` answer.", {
        "id": STRING, "object": STRING, "created": INTEGER, "model": STRING,
        "choices": array(ref("ChatCompletionChoice")), "usage": ref("Usage"),
    }, ["id", "object", "created", "model", "choices"]),
    "ChatCompletionChoice": obj("One generated alternative.", {
        "index": INTEGER, "message": ref("ChatMessage"), "finish_reason": nullable(STRING),
    }, ["index", "message"]),
    "ChatCompletionChunk": obj("One server-sent `data:` chunk of a streamed chat completion.", {
        "id": STRING, "object": STRING, "created": INTEGER, "model": STRING,
        "choices": array(ref("ChatCompletionChunkChoice")), "usage": ref("Usage"),
    }, ["id", "object", "created", "model", "choices"]),
    "ChatCompletionChunkChoice": obj("The increment of one alternative.", {
        "index": INTEGER, "delta": ref("ChatCompletionDelta"), "finish_reason": nullable(STRING),
    }, ["index", "delta", "finish_reason"]),
    "ChatCompletionDelta": obj("New role and/or text of a chunk.", {"role": STRING, "content": STRING}),
    "CompletionRequest": obj("Legacy completion request.", {
        "model": STRING,
        "prompt": {"anyOf": [STRING, array(STRING)]},
        "max_tokens": {"type": "integer", "minimum": 1},
        "stream": BOOLEAN,
        "stream_options": ref("StreamOptions"),
        "temperature": NUMBER,
        "user": STRING,
    }, ["model", "prompt"]),
    "CompletionResponse": obj("Non-streaming `text_completion` answer.", {
        "id": STRING, "object": STRING, "created": INTEGER, "model": STRING,
        "choices": array(ref("CompletionChoice")), "usage": ref("Usage"),
    }, ["id", "object", "created", "model", "choices"]),
    "CompletionChoice": obj("One generated text.", {
        "index": INTEGER, "text": STRING, "finish_reason": nullable(STRING),
    }, ["index", "text", "finish_reason"]),
    "EmbeddingRequest": obj("OpenAI embeddings request.", {
        "input": {"anyOf": [STRING, array(STRING)]}, "model": STRING, "encoding_format": STRING,
    }, ["input"]),
    "EmbeddingResponse": obj("OpenAI embeddings answer.", {
        "object": STRING, "data": array(ref("Embedding")), "model": STRING, "usage": ref("EmbeddingUsage"),
    }, ["object", "data", "model", "usage"]),
    "Embedding": obj("One L2-normalised vector.", {
        "object": STRING, "index": INTEGER, "embedding": array(NUMBER),
    }, ["object", "index", "embedding"]),
    "EmbeddingUsage": obj("Tokens an embeddings call read.", {
        "prompt_tokens": INTEGER, "total_tokens": INTEGER,
    }, ["prompt_tokens", "total_tokens"]),
    "ModelList": obj("`GET /v1/models`.", {"object": STRING, "data": array(ref("ModelInfo"))}, ["object", "data"]),
    "ModelInfo": obj("One model.", {
        "id": STRING, "object": STRING, "created": INTEGER, "owned_by": STRING,
    }, ["id", "object", "created", "owned_by"]),
    # Shared/Contracts/Predictor
    "SizeBucket": enum("Coarse output size.", ["short", "medium", "long"]),
    "FallbackLevel": enum("Which evidence a prediction rests on.", [
        "tenant_neighbors", "global_neighbors", "trained_prior", "model_prior", "global_prior", "local_prior", "oracle"]),
    "PredictRequest": obj("A prompt (text or messages) to predict the output length and cost of.", {
        "prompt": STRING, "messages": array(ref("ChatMessage")), "max_tokens": INTEGER, "model": STRING,
        "task_type": STRING, "tenant_id": STRING,
    }, ["model"]),
    "PredictResponse": obj("Predicted output length, cost and confidence.", {
        "size_bucket": ref("SizeBucket"), "expected_output_tokens_p50": INTEGER,
        "expected_output_tokens_p90": INTEGER, "expected_output_tokens_p10": INTEGER,
        "expected_output_tokens_p99": INTEGER, "p_short": NUMBER, "prompt_tokens": INTEGER, "predicted_cost_p50": NUMBER,
        "risk_score": NUMBER, "confidence_score": NUMBER, "fallback_level": ref("FallbackLevel"),
        "neighbors_used": INTEGER, "model_version": STRING,
    }, ["size_bucket", "expected_output_tokens_p50", "expected_output_tokens_p90", "prompt_tokens",
        "predicted_cost_p50", "risk_score", "confidence_score", "fallback_level", "neighbors_used", "model_version"]),
    "PredictBatchRequest": obj("Several predictions in one call.",
                               {"requests": array(ref("PredictRequest"), minItems=1)}, ["requests"]),
    "PredictBatchResponse": obj("Predictions in request order.",
                                {"predictions": array(ref("PredictResponse"))}, ["predictions"]),
    "OutcomeReport": obj("What one finished request produced (the proxy's report, the body of `/ingest`).", {
        "prompt": STRING, "messages": array(ref("ChatMessage")), "output_tokens": INTEGER,
        "prompt_tokens": INTEGER, "max_tokens": INTEGER, "model": STRING, "task_type": STRING, "tenant_id": STRING,
        "success": BOOLEAN, "latency_ms": NUMBER, "ttft_ms": NUMBER, "finish_reason": STRING, "request_id": STRING,
    }, ["output_tokens", "model", "success"]),
    "OutcomeBatch": obj("Several outcome reports.", {"records": array(ref("OutcomeReport"), minItems=1)}, ["records"]),
    "IngestResponse": obj("How many reports were stored.", {"stored": INTEGER, "history_size": INTEGER},
                          ["stored", "history_size"]),
    "ModelProfilesResponse": obj("Per-model output-length profiles and the embedder in use.", {
        "models": array(ref("ModelProfile")), "embedder": ref("EmbedderInfo"), "history_size": INTEGER,
        "model_version": STRING,
    }, ["models", "embedder", "history_size", "model_version"]),
    "ModelProfile": obj("Output-length quantiles and prices of one model.", {
        "model": STRING, "sample_count": INTEGER, "output_tokens_p10": NUMBER, "output_tokens_p50": NUMBER,
        "output_tokens_p90": NUMBER, "input_price_per_1k": NUMBER, "output_price_per_1k": NUMBER,
    }, ["model", "sample_count", "output_tokens_p10", "output_tokens_p50", "output_tokens_p90",
        "input_price_per_1k", "output_price_per_1k"]),
    "EmbedderInfo": obj("The sentence embedder in use.", {"name": STRING, "kind": STRING, "dimension": INTEGER},
                        ["name", "kind", "dimension"]),
    # Shared/Contracts/Scheduler
    "RequestClass": enum("Service class.", ["interactive", "heavy"]),
    "RequestState": enum("Life-cycle state of a request.", [
        "queued", "deferred", "dispatched", "completed", "rejected", "failed", "expired", "cancelled"]),
    "SubmitRequest": obj("A request to schedule.", {
        "prompt": STRING, "messages": array(ref("ChatMessage")), "max_tokens": {"type": "integer", "minimum": 1},
        "model": STRING, "task_type": STRING, "tenant_id": STRING, "request_class": ref("RequestClass"),
        "priority": {"type": "integer", "minimum": 0, "maximum": 9},
        "deadline_ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 604800000},
    }, ["max_tokens", "model"]),
    "DecisionReason": obj("Why the scheduler decided as it did.", {"code": STRING, "message": STRING},
                          ["code", "message"]),
    "SubmitResponse": obj("The admission decision.", {
        "request_id": STRING, "state": ref("RequestState"), "request_class": ref("RequestClass"),
        "deadline_unix_ms": NUMBER, "prediction": ref("PredictResponse"), "reason": ref("DecisionReason"),
    }, ["request_id", "state", "request_class", "deadline_unix_ms", "prediction"]),
    "RequestTimings": obj("When a request passed each stage (Unix ms) and the derived waits.", {
        "submitted_unix_ms": NUMBER, "dispatched_unix_ms": NUMBER, "first_token_unix_ms": NUMBER,
        "finished_unix_ms": NUMBER, "queue_ms": NUMBER, "latency_ms": NUMBER,
    }, ["submitted_unix_ms"]),
    "UpstreamResult": obj("What the upstream answered.", {
        "status_code": INTEGER, "output_text": STRING, "finish_reason": STRING, "usage": ref("Usage"),
        "error": ref("ErrorBody"),
    }, ["status_code"]),
    "StatusResponse": obj("State, timings and result of one request.", {
        "request_id": STRING, "state": ref("RequestState"), "request_class": ref("RequestClass"),
        "tenant_id": STRING, "model": STRING, "deadline_unix_ms": NUMBER, "prediction": ref("PredictResponse"),
        "reason": ref("DecisionReason"), "timings": ref("RequestTimings"), "result": ref("UpstreamResult"),
    }, ["request_id", "state", "request_class", "tenant_id", "model", "deadline_unix_ms", "prediction", "timings"]),
    "TickResponse": obj("What one scheduling tick did.", {
        "dispatched": INTEGER, "deferred": INTEGER, "rejected": INTEGER, "expired": INTEGER,
        "mode": ref("CongestionModeName"),
    }, ["dispatched", "deferred", "rejected", "expired", "mode"]),
    "CongestionModeName": enum("Congestion mode.", ["free", "moderate", "congested"]),
    "SchedulerEventKind": enum("Kind of a scheduling decision.", [
        "admit", "defer", "reject", "dispatch", "complete", "fail", "expire", "cancel", "requeue", "mode_change",
        "config_change"]),
    "SchedulerEvent": obj("One recorded decision.", {
        "sequence": INTEGER, "time_unix_ms": NUMBER, "kind": ref("SchedulerEventKind"), "request_id": STRING,
        "request_class": ref("RequestClass"), "tenant_id": STRING, "reason": ref("DecisionReason"),
    }, ["sequence", "time_unix_ms", "kind"]),
    "EventsResponse": obj("Recent decisions after `since`.", {
        "events": array(ref("SchedulerEvent")), "next_since": INTEGER,
    }, ["events", "next_since"]),
    "LadderAction": enum("What a cost-ladder rung does in a mode.", ["admit", "defer", "reject"]),
    "LadderRungDocument": obj("One rung of the cost ladder.", {
        "max_cost": NUMBER, "free": ref("LadderAction"), "moderate": ref("LadderAction"),
        "congested": ref("LadderAction"),
    }, ["free", "moderate", "congested"]),
    "SchedulerConfigDocument": obj("The live-tunable policy (`GET`/`POST /admin/config`).", {
        "allocation_policy": STRING, "ordering_policy": STRING, "interactive_inflight_tokens": INTEGER,
        "heavy_inflight_tokens": INTEGER, "interactive_deadline_ms": NUMBER, "heavy_deadline_ms": NUMBER,
        "max_queue_length": INTEGER, "ladder": array(ref("LadderRungDocument")), "extra": string_map({}),
    }),
    "WaitingGroup": obj("Requests waiting in one class or for one tenant.", {
        "name": STRING, "queued": INTEGER, "oldest_wait_ms": NUMBER,
    }, ["name", "queued", "oldest_wait_ms"]),
    "PredictionSample": obj("One answer: predicted p50 and p90 against the output tokens that came back.", {
        "predicted_p50": INTEGER, "predicted_p90": INTEGER, "output_tokens": INTEGER,
    }, ["predicted_p50", "predicted_p90", "output_tokens"]),
    "PredictionQuality": obj("How good the predictions have been on the last answers.", {
        "samples": array(ref("PredictionSample")), "p90_coverage": NUMBER, "rank_correlation": NUMBER,
        "trust": NUMBER, "fallback_levels": string_map(INTEGER),
    }, ["samples", "trust", "fallback_levels"]),
    "LatencyPoint": obj("Latency of one class's requests that finished in one 5-second bucket.", {
        "start_unix_ms": NUMBER, "request_class": ref("RequestClass"), "count": INTEGER, "p50_ms": NUMBER,
        "p95_ms": NUMBER,
    }, ["start_unix_ms", "request_class", "count", "p50_ms", "p95_ms"]),
    "OperatorState": obj("What the operator page shows, bounded in size however long the queue is.", {
        "generated_unix_ms": NUMBER, "mode": ref("CongestionModeName"), "mode_change": ref("SchedulerEvent"),
        "slowdown_ratio": NUMBER, "rate_limited_share": NUMBER, "inflight_requests": INTEGER,
        "inflight_request_cap": INTEGER, "max_inflight_requests": INTEGER,
        "inflight_tokens_by_class": string_map(INTEGER), "inflight_budget_by_class": string_map(INTEGER),
        "queued_total": INTEGER, "waiting_by_class": array(ref("WaitingGroup")),
        "waiting_by_tenant": array(ref("WaitingGroup"), maxItems=20), "tenants_waiting": INTEGER,
        "dispatched_total": INTEGER, "completed_total": INTEGER, "failed_total": INTEGER, "expired_total": INTEGER,
        "rejected_by_reason": string_map(INTEGER), "deferred_by_reason": string_map(INTEGER),
        "decisions": array(ref("SchedulerEvent"), maxItems=1000), "prediction": ref("PredictionQuality"),
        "latency": array(ref("LatencyPoint")),
    }, ["generated_unix_ms", "mode", "inflight_requests", "max_inflight_requests", "inflight_tokens_by_class",
        "inflight_budget_by_class", "queued_total", "waiting_by_class", "waiting_by_tenant", "tenants_waiting",
        "dispatched_total", "completed_total", "failed_total", "expired_total", "rejected_by_reason",
        "deferred_by_reason", "decisions", "prediction", "latency"]),
    "OperatorAccount": obj("An upstream account's AIMD window and load (no address, no key).", {
        "name": STRING, "model_name": STRING, "window": NUMBER, "max_concurrency": INTEGER, "in_flight": INTEGER,
        "requests": INTEGER, "successes": INTEGER, "errors": INTEGER, "rate_limited": INTEGER,
        "cooldown_remaining_ms": NUMBER, "ewma_latency_ms": NUMBER,
    }, ["name", "model_name", "window", "max_concurrency", "in_flight", "requests", "successes", "errors",
        "rate_limited", "cooldown_remaining_ms"]),
    "ProxyAccounts": obj("One proxy's accounts, or why they could not be read.", {
        "url": STRING, "instance": STRING, "queue_depth": INTEGER, "accounts": array(ref("OperatorAccount")),
        "error": STRING,
    }, ["url", "accounts"]),
    "OperatorAccounts": obj("The accounts of every proxy the scheduler dispatches to.", {
        "generated_unix_ms": NUMBER, "proxies": array(ref("ProxyAccounts"), maxItems=16),
    }, ["generated_unix_ms", "proxies"]),
    "ResetResponse": obj("What `POST /reset` dropped.", {"reset": BOOLEAN, "dropped_waiting": INTEGER},
                         ["reset", "dropped_waiting"]),
    # Shared/Contracts/Proxy
    "ProxyStats": obj("Per-account state of one proxy instance (no keys).", {
        "instance": STRING, "queue_depth": INTEGER, "accounts": array(ref("AccountStats")),
    }, ["instance", "queue_depth", "accounts"]),
    "AccountStats": obj("One upstream account.", {
        "name": STRING, "model_name": STRING, "upstream_model": STRING, "api_base": STRING, "weight": NUMBER,
        "window": NUMBER, "max_concurrency": INTEGER, "in_flight": INTEGER, "ewma_latency_ms": NUMBER,
        "requests": INTEGER, "successes": INTEGER, "errors": INTEGER, "rate_limited": INTEGER,
        "cooldown_remaining_ms": NUMBER, "requests_this_minute": INTEGER, "tokens_this_minute": INTEGER,
        "rpm": INTEGER, "tpm": INTEGER,
    }, ["name", "model_name", "upstream_model", "api_base", "weight", "window", "max_concurrency", "in_flight",
        "requests", "successes", "errors", "rate_limited", "cooldown_remaining_ms", "requests_this_minute",
        "tokens_this_minute"]),
}

ERROR_TEXT = {
    400: "Invalid request: bad JSON, a wrong type, a missing or out-of-range field.",
    401: "Missing or invalid bearer token.",
    404: "Not found.",
    413: "Request body larger than the service's limit.",
    429: "Rate limited or refused by the scheduler; `Retry-After` says when to retry.",
    500: "Internal error.",
    502: "Upstream unreachable or broken.",
    503: "Temporarily unavailable.",
    504: "Upstream timed out.",
}

def sse(chunk):
    """Streamed answers: server-sent events whose `data` is a chunk as JSON, the last one `[DONE]`.
    The schema describes one event, as OpenAPI 3.2's `itemSchema` does; `x-sse-data` names the chunk's schema."""
    event = {"type": "object", "properties": {"event": STRING, "data": STRING, "id": STRING, "retry": INTEGER}}
    return {"text/event-stream": {"schema": event, "x-sse-data": ref(chunk)}}


def json_content(schema):
    return {"application/json": {"schema": schema}}


def operation(op_id, summary, ok, body=None, errors=(), status="200", ok_text="OK", parameters=(), security=None,
              stream=None):
    """One operation: `ok` is the success schema (None for any JSON), `errors` the documented error statuses,
    `stream` the schema name of a server-sent chunk when the operation can stream."""
    content = json_content(ok if ok is not None else {})
    if stream:
        content.update(sse(stream))
    responses = {status: {"description": ok_text, "content": content}}
    statuses = set(errors)
    if body is not None:
        statuses |= {400, 413}
    for code in sorted(statuses):
        responses[str(code)] = {"description": ERROR_TEXT[code], "content": json_content(ref("ErrorEnvelope"))}
    result = {"operationId": op_id, "summary": summary}
    if parameters:
        result["parameters"] = list(parameters)
    if body is not None:
        result["requestBody"] = {"required": True, "content": json_content(body)}
    result["responses"] = responses
    if security is not None:
        result["security"] = security
    return result


def page(op_id, summary, media_type):
    return {"operationId": op_id, "summary": summary,
            "responses": {"200": {"description": "OK", "content": {media_type: {"schema": STRING}}}}}


def query(name, schema, description):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def path_param(name, description):
    return {"name": name, "in": "path", "required": True, "schema": STRING, "description": description}


def header(name, schema, description):
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


COMMON_PATHS = {
    "/health": {"get": operation("health", "Liveness, version and uptime.", ref("HealthResponse"))},
    "/metrics": {"get": {
        "operationId": "metrics",
        "summary": "Prometheus text (Accept: text/plain or ?format=prometheus) or a JSON snapshot.",
        "parameters": [query("format", {"type": "string", "enum": ["prometheus", "json"]}, "Forces the format.")],
        "responses": {
            "200": {"description": "OK", "content": {
                "application/json": {"schema": ref("MetricsSnapshot")},
                "text/plain": {"schema": STRING},
            }},
            "400": {"description": ERROR_TEXT[400], "content": json_content(ref("ErrorEnvelope"))},
        },
    }},
    "/openapi.json": {"get": operation("openapi", "This document.", {"type": "object"})},
}

BEARER = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
OPENAI_GENERATION = (404, 429, 500, 502, 503, 504)


def predictor_paths():
    return {
        "/predict": {"post": operation("predict", "Predict output length and cost of one prompt.",
                                       ref("PredictResponse"), body=ref("PredictRequest"))},
        "/predict/batch": {"post": operation("predictBatch", "Predict several prompts at once.",
                                             ref("PredictBatchResponse"), body=ref("PredictBatchRequest"))},
        "/ingest": {"post": operation("ingest", "Store one finished request's outcome.", ref("IngestResponse"),
                                      body=ref("OutcomeReport"), status="201", ok_text="Stored")},
        "/ingest/batch": {"post": operation("ingestBatch", "Store several outcomes.", ref("IngestResponse"),
                                            body=ref("OutcomeBatch"), status="201", ok_text="Stored")},
        "/models": {"get": operation("modelProfiles", "Per-model output-length profiles.",
                                     ref("ModelProfilesResponse"))},
        "/v1/embeddings": {"post": operation("embeddings", "OpenAI-compatible sentence embeddings.",
                                             ref("EmbeddingResponse"), body=ref("EmbeddingRequest"))},
    }


SCHEDULING_HEADERS = [
    header("X-Tenant-ID", STRING, "Tenant (default: the body's `user`, else `default`)."),
    header("X-Request-Class", {"type": "string", "enum": ["interactive", "heavy"]}, "Service class."),
    header("X-Deadline-Ms", {"type": "number", "exclusiveMinimum": 0, "maximum": 604800000}, "Time budget in ms."),
    header("X-Priority", {"type": "integer", "minimum": 0, "maximum": 9}, "Priority, 0 to 9 (default 5)."),
    header("X-Task-Type", STRING, "Task type, for prediction."),
]


def scheduler_paths():
    admin = [{"bearerAuth": []}]
    return {
        "/submit": {"post": operation("submit", "Schedule a request; answers the admission decision.",
                                      ref("SubmitResponse"), body=ref("SubmitRequest"), status="202",
                                      ok_text="Accepted", errors=(429,))},
        "/status/{id}": {"get": operation("status", "State, timings and result of one request.",
                                          ref("StatusResponse"), errors=(404,),
                                          parameters=[path_param("id", "Request id from /submit.")])},
        "/tick": {"post": operation("tick", "Run one scheduling tick now.", ref("TickResponse"))},
        "/events": {"get": operation("events", "Recent scheduling decisions.", ref("EventsResponse"), errors=(400,),
                                     parameters=[
                                         query("since", {"type": "integer", "minimum": 0}, "Sequence to start after."),
                                         query("limit", {"type": "integer", "minimum": 1, "maximum": 10000},
                                               "Most events to return (default 1000)."),
                                     ])},
        "/": {"get": page("operatorPage", "The operator page (also at /ui).", "text/html")},
        "/ui": {"get": page("operatorPageUI", "The operator page.", "text/html")},
        "/ui/page.js": {"get": page("operatorPageScript", "The operator page's script.", "text/javascript")},
        "/ui/page.css": {"get": page("operatorPageStyle", "The operator page's style sheet.", "text/css")},
        "/ui/state": {"get": operation(
            "operatorState", "What the operator page shows: queues, capacity, decisions, predictions, latency.",
            ref("OperatorState"), errors=(400,), parameters=[
                query("tenant", STRING, "Only this tenant's decisions."),
                query("decisions", {"type": "integer", "minimum": 1, "maximum": 1000},
                      "Most decisions to return, newest first (default 200)."),
            ])},
        "/ui/accounts": {"get": operation(
            "operatorAccounts", "The upstream accounts of every proxy, from their /_stats.", ref("OperatorAccounts"))},
        "/admin/config": {
            "get": operation("getConfig", "The live policy.", ref("SchedulerConfigDocument"), errors=(401,),
                             security=admin),
            "post": operation("setConfig", "Change the live policy (fields left out stay as they are).",
                              ref("SchedulerConfigDocument"), body=ref("SchedulerConfigDocument"), errors=(401,),
                              security=admin),
        },
        "/reset": {"post": operation("reset", "Drop every waiting request.", ref("ResetResponse"), errors=(401,),
                                     security=admin)},
        "/v1/chat/completions": {"post": operation(
            "chatCompletions",
            "OpenAI-compatible front door: waits in the queue, then answers from the proxy (its errors pass through).",
            ref("ChatCompletionResponse"), body=ref("ChatCompletionRequest"), errors=OPENAI_GENERATION + (401,),
            stream="ChatCompletionChunk",
            parameters=SCHEDULING_HEADERS)},
    }


def openai_paths(op_prefix, embeddings, auth, models_owner):
    security = [{"bearerAuth": []}] if auth else None
    errors = OPENAI_GENERATION + ((401,) if auth else ())
    paths = {
        "/v1/chat/completions": {"post": operation(
            f"{op_prefix}ChatCompletions", "OpenAI chat completions.", ref("ChatCompletionResponse"),
            body=ref("ChatCompletionRequest"), errors=errors, stream="ChatCompletionChunk", security=security)},
        "/v1/completions": {"post": operation(
            f"{op_prefix}Completions", "OpenAI legacy completions.", ref("CompletionResponse"),
            body=ref("CompletionRequest"), errors=errors, stream="CompletionResponse", security=security)},
    }
    if embeddings:
        paths["/v1/embeddings"] = {"post": operation(
            f"{op_prefix}Embeddings", "OpenAI embeddings.", ref("EmbeddingResponse"), body=ref("EmbeddingRequest"),
            errors=errors, security=security)}
    model_errors = (401,) if auth else ()
    paths["/v1/models"] = {"get": operation(f"{op_prefix}Models", f"Models {models_owner}.", ref("ModelList"),
                                            errors=model_errors, security=security)}
    paths["/v1/models/{model}"] = {"get": operation(
        f"{op_prefix}Model", "One model.", ref("ModelInfo"), errors=(404,) + model_errors, security=security,
        parameters=[path_param("model", "Model name.")])}
    return paths


def proxy_paths():
    paths = openai_paths("proxy", embeddings=True, auth=True, models_owner="the proxy's deployments serve")
    paths["/_stats"] = {"get": operation("stats", "Per-account windows, counters and cooldowns (no keys).",
                                         ref("ProxyStats"), errors=(401,), security=[{"bearerAuth": []}])}
    return paths


SERVICES = {
    "predictor": ("Predictor", "maitre predictor", "Predicts output length and cost of prompts; learns from outcomes.",
                  8000, predictor_paths),
    "scheduler": ("Scheduler", "maitre scheduler", "Admits, orders and dispatches LLM requests under overload.",
                  8010, scheduler_paths),
    "proxy": ("Proxy", "maitre proxy", "OpenAI-compatible proxy over a pool of upstream accounts (AIMD windows).",
              3000, proxy_paths),
    "mock-llm": ("MockLLM", "maitre mock-llm", "Simulated OpenAI-compatible upstream with latency, limits and faults.",
                 8080, lambda: openai_paths("mock", embeddings=False, auth=False, models_owner="the mock serves")),
}


def referenced(node, found):
    if isinstance(node, dict):
        target = node.get("$ref")
        if target and target.startswith("#/components/schemas/"):
            name = target.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                referenced(SCHEMAS[name], found)
        for value in node.values():
            referenced(value, found)
    elif isinstance(node, list):
        for value in node:
            referenced(value, found)
    return found


def document(service):
    _, title, description, port, paths_of = SERVICES[service]
    paths = {**COMMON_PATHS, **paths_of()}
    names = referenced(paths, set())
    components = {"schemas": {name: SCHEMAS[name] for name in sorted(names)}}
    if "bearerAuth" in json.dumps(paths):
        components["securitySchemes"] = BEARER
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "0.1.0", "description": description},
        "servers": [{"url": f"http://127.0.0.1:{port}"}],
        "paths": paths,
        "components": components,
    }


def swift_source(service, text):
    name = SERVICES[service][0]
    return (
        f"// swift-format-ignore-file\n"
        f"// Generated by scripts/openapi/generate.py; edit the generator, not this file.\n"
        f"// Byte-identical to deploy/openapi/{service}.json (checked by OpenAPIContractTests).\n\n"
        f"/// The {service} service's OpenAPI 3.1 document, served at `GET /openapi.json`.\n"
        f"public enum {name}OpenAPI {{\n"
        f"    /// The document's JSON text.\n"
        f"    public static let json = #\"\"\"\n{text}\n\"\"\"#\n"
        f"}}\n"
    )


def outputs():
    for service, (name, *_rest) in SERVICES.items():
        text = json.dumps(document(service), indent=2, ensure_ascii=False) + "\n"
        yield ROOT / "deploy" / "openapi" / f"{service}.json", text
        yield ROOT / "Services" / name / "Service" / "OpenAPI" / f"{name}OpenAPI.swift", swift_source(service, text)


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in outputs():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run scripts/openapi/generate.py):", *[str(p.relative_to(ROOT)) for p in stale], sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
