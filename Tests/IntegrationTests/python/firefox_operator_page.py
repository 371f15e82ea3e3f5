"""Load the scheduler's operator page in headless Firefox and read back what it rendered.

Usage: python3 firefox_operator_page.py PAGE_URL
Drives Firefox through its built-in Marionette server (no geckodriver needed): opens the page, waits until it has
rendered its data (body[data-ready=true]), then prints one JSON object with the page's status and a few figures
read from the DOM, and the JavaScript errors (uncaught exceptions, unhandled rejections) Firefox printed for it.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

FIGURES = """
return {
  ready: document.body.getAttribute('data-ready'),
  status: document.getElementById('status').getAttribute('data-status'),
  status_text: document.getElementById('status').textContent,
  queued_total: document.getElementById('queued-total').getAttribute('data-value'),
  decisions: document.querySelectorAll('#decisions tr[data-sequence]').length,
  accounts: document.querySelectorAll('#accounts tr[data-account]').length,
  scatter_points: document.getElementById('scatter').getAttribute('data-points'),
};
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Marionette:
    def __init__(self, port):
        deadline = time.time() + 60
        while True:
            try:
                self.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.buffer = b""
        self.next_id = 0
        self.receive()

    def receive(self):
        while b":" not in self.buffer:
            self.buffer += self.socket.recv(65536)
        length, rest = self.buffer.split(b":", 1)
        length = int(length)
        while len(rest) < length:
            rest += self.socket.recv(65536)
        self.buffer = rest[length:]
        return json.loads(rest[:length])

    def command(self, name, parameters):
        self.next_id += 1
        data = json.dumps([0, self.next_id, name, parameters]).encode()
        self.socket.sendall(str(len(data)).encode() + b":" + data)
        while True:
            message = self.receive()
            if message[0] == 1 and message[1] == self.next_id:
                if message[2]:
                    raise RuntimeError(f"{name}: {message[2]}")
                return message[3]


def main():
    url = sys.argv[1]
    profile = tempfile.mkdtemp(prefix="maitre-firefox-")
    port = free_port()
    with open(os.path.join(profile, "user.js"), "w") as prefs:
        prefs.write(f'user_pref("marionette.port", {port});\n')
        prefs.write('user_pref("devtools.console.stdout.content", true);\n')
        prefs.write('user_pref("browser.dom.window.dump.enabled", true);\n')
    log_path = os.path.join(profile, "firefox.log")
    firefox = subprocess.Popen(
        ["firefox-esr", "--headless", "--marionette", "--no-remote", "--profile", profile],
        stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    figures = {}
    try:
        marionette = Marionette(port)
        marionette.command("WebDriver:NewSession", {"capabilities": {}})
        marionette.command("WebDriver:Navigate", {"url": url})
        deadline = time.time() + 60
        while time.time() < deadline:
            figures = marionette.command("WebDriver:ExecuteScript", {"script": FIGURES, "args": []})["value"]
            if figures.get("ready") == "true" and figures.get("status") == "ok":
                break
            time.sleep(0.5)
        marionette.command("Marionette:Quit", {"flags": ["eForceQuit"]})
        firefox.wait(timeout=30)
    finally:
        if firefox.poll() is None:
            firefox.kill()
    log = open(log_path).read()
    origin = url.split("/ui")[0].rstrip("/")
    errors = [line for line in log.splitlines() if origin in line and "JavaScript error" in line]
    figures["errors"] = errors
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
