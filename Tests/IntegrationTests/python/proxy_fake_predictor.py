"""A stand-in predictor: POST /ingest/batch appends each body to a file (to check the proxy's outcome reports),
POST /v1/embeddings answers in OpenAI's shape (an embeddings upstream for the official client through the
proxy, while the real predictor may lack the route). Usage: proxy_fake_predictor.py PORT OUTPUT_FILE"""
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path.endswith("/embeddings"):
            request = json.loads(body)
            inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
            data = [{"object": "embedding", "index": i, "embedding": [float(len(text) % 7), 0.5, 0.25]} for i, text in enumerate(inputs)]
            answer = {"object": "list", "data": data, "model": request["model"], "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}}
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())
            return
        with open(sys.argv[2], "a", encoding="utf-8") as output:
            output.write(json.dumps(json.loads(body)) + "\n")
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        count = len(json.loads(body).get("records", []))
        self.wfile.write(json.dumps({"stored": count, "history_size": count}).encode())

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
