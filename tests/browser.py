"""Headless Chromium for the tests, driven through chromedriver's W3C WebDriver HTTP API with
urllib (no Selenium): open a URL, run a script in the page, take a screenshot.

Chromium runs as root here, so without its sandbox, with a fresh profile in a temporary folder,
and with everything that would call out (background networking, component updates, sync, QUIC)
off; its host resolver maps every name to nothing, so the page can reach 127.0.0.1 alone.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, width=1600, height=1000):
        self.profile = tempfile.mkdtemp(prefix="svclab-chromium-")
        self.port = _free_port()
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise
                time.sleep(0.1)
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": FLAGS + [f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]},
            "goog:loggingPrefs": {"performance": "ALL"}}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as exc:  # WebDriver's error, in its words
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')[:500]}") from None

    def _session(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self._session("POST", "/url", {"url": url})

    def run(self, script, *args):
        """The value of a function body run in the page (``return ...``)."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script, timeout=10, *args):
        """Run ``script`` until it returns something true; that value, or AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never gave {script!r} (last: {value!r})")
            time.sleep(0.05)

    def element(self, css):
        found = self._session("POST", "/element", {"using": "css selector", "value": css})
        return found[ELEMENT]

    def click(self, css):
        self._session("POST", f"/element/{self.element(css)}/click", {})

    def hover(self, css):
        """The mouse moved onto the element's centre, as a user's would."""
        move = {"type": "pointerMove", "duration": 0, "origin": {ELEMENT: self.element(css)}, "x": 0, "y": 0}
        self._session("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse",
                                                        "parameters": {"pointerType": "mouse"}, "actions": [move]}]})

    def requested_urls(self):
        """Every URL the browser asked for since the last call (Chromium's network log)."""
        out = []
        for entry in self._session("POST", "/se/log", {"type": "performance"}) or []:
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                out.append(message["params"]["request"]["url"])
        return out

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._session("GET", "/screenshot")))

    def close(self):
        try:
            if getattr(self, "session", None):
                self._call("DELETE", f"/session/{self.session}")
        except OSError:
            pass
        finally:
            self.driver.terminate()
            try:
                self.driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def available():
    return bool(CHROMIUM and CHROMEDRIVER and os.access(CHROMIUM, os.X_OK))
