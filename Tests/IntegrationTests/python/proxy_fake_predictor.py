"""A stand-in predictor that accepts POST /ingest/batch and appends each body to a file, for checking the
proxy's outcome reports without the real predictor. Usage: proxy_fake_predictor.py PORT OUTPUT_FILE"""
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
