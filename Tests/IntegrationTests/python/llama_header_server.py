"""llama-cpp-python's OpenAI server, unchanged, with one outer middleware that appends every request's headers to a
file before the server sees them (so a test can check what reached it).
Usage: llama_header_server.py MODEL.gguf PORT HEADERS_FILE"""
import json
import sys

import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings

model, port, headers_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = create_app(
    server_settings=ServerSettings(host="127.0.0.1", port=port, interrupt_requests=False),
    model_settings=[ModelSettings(model=model, model_alias="smollm2", n_ctx=2048, n_threads=2, verbose=False)],
)


@app.middleware("http")
async def record_headers(request, call_next):
    with open(headers_file, "a", encoding="utf-8") as output:
        output.write(json.dumps({"path": request.url.path, "headers": dict(request.headers)}) + "\n")
    return await call_next(request)


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
