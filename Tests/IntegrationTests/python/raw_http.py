"""Raw HTTP/1.1 over one socket, for what ordinary clients never do: pipelining and leaving mid-stream.

Usage:
  raw_http.py pipeline HOST PORT   sends a chat completion, GET /v1/models and another chat completion in one write
                                   on one connection; prints one JSON list of [status, x-request-id, body] in the
                                   order the answers arrived.
  raw_http.py expect HOST PORT    sends a chat completion's head with `Expect: 100-continue`, waits (at most 5 s) for
                                   the interim 100 answer before sending the body; prints [interim status, final status].
  raw_http.py abandon HOST PORT    starts a streaming chat completion, reads until the first SSE event, then closes
                                   the socket; prints "left" with the seconds it took.
  raw_http.py untildone HOST PORT  starts a streaming chat completion, reads until its `data: [DONE]`, then closes the
                                   socket (as clients do on reading it); prints "left" with the seconds it took.
Only the standard library; exits non-zero on any failure.
"""
import json
import socket
import sys
import time

CHAT = b'{"model":"gpt-4o-mini","max_tokens":6,"messages":[{"role":"user","content":"Hello there"}]}'


def request(method: str, path: str, request_id: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: proxy\r\nX-Request-ID: {request_id}\r\n{extra}"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


class Reader:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buffer += data

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self.fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self.fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def response(self):
        status = int(self.line().split(b" ")[1])
        headers = {}
        while True:
            line = self.line()
            if not line:
                break
            name, value = line.split(b":", 1)
            headers[name.strip().lower().decode()] = value.strip().decode()
        if "content-length" in headers:
            body = self.exactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    self.line()
                    break
                body += self.exactly(size)
                self.line()
        else:
            body = b""
        return status, headers, body


def pipeline(host: str, port: int) -> int:
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(
        request("POST", "/v1/chat/completions", "first", CHAT)
        + request("GET", "/v1/models", "second")
        + request("POST", "/v1/chat/completions", "third", CHAT)
    )
    reader = Reader(sock)
    answers = []
    for _ in range(3):
        status, headers, body = reader.response()
        answers.append([status, headers.get("x-request-id"), body.decode(errors="replace")])
    sock.close()
    print(json.dumps(answers))
    return 0


def expect(host: str, port: int) -> int:
    sock = socket.create_connection((host, port), timeout=5)
    whole = request("POST", "/v1/chat/completions", "expecting", CHAT, extra="Expect: 100-continue\r\n")
    head, body = whole.split(b"\r\n\r\n", 1)
    sock.sendall(head + b"\r\n\r\n")
    reader = Reader(sock)
    interim = int(reader.line().split(b" ")[1])
    while reader.line():
        pass
    sock.sendall(body)
    status, _, _ = reader.response()
    sock.close()
    print(json.dumps([interim, status]))
    return 0


def leave_stream(host: str, port: int, max_tokens: int, until: bytes, reset: bool) -> int:
    """Starts a streaming chat completion, reads until `until` arrived, then closes the socket (with a reset when
    `reset`); prints "left" with the seconds it took."""
    body = CHAT.replace(b'"max_tokens":6', b'"max_tokens":%d,"stream":true' % max_tokens)
    started = time.monotonic()
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(request("POST", "/v1/chat/completions", "leaving", body))
    reader = Reader(sock)
    while until not in reader.buffer:
        reader.fill()
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    print(json.dumps({"left": round(time.monotonic() - started, 3)}))
    return 0


def abandon(host: str, port: int) -> int:
    return leave_stream(host, port, 200, b"data:", reset=True)


def untildone(host: str, port: int) -> int:
    return leave_stream(host, port, 20, b"data: [DONE]", reset=False)


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.exit({"pipeline": pipeline, "expect": expect, "abandon": abandon, "untildone": untildone}[mode](host, port))
