-- wrk script: small non-streaming chat completions against maitre-mock-llm.
-- Run: wrk -t2 -c64 -d10s -s scripts/bench/mock-llm-chat.lua http://127.0.0.1:8080
-- (start the mock with --latency-profile instant for the throughput figure)
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Say hello to the kitchen."}]}'

done = function(summary, latency, requests)
    io.write(string.format("requests/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
    io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
    io.write(string.format("non-2xx: %d, socket errors: connect %d read %d write %d timeout %d\n",
        summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
