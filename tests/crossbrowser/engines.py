"""The browser engines of this suite, Debian's builds, behind one small page interface the tests share.

- Firefox: `firefox-esr`, driven by puppeteer-core over WebDriver BiDi (firefox_bridge.mjs), headless. Playwright
  drives only its own patched Firefox (its BiDi channel expects a newer Firefox than the ESR: opening a page fails
  on `emulation.setMediaFeaturesOverride`), and Debian has no geckodriver for Selenium.
- WebKit: WebKitGTK's MiniBrowser through its own WebDriver (`WebKitWebDriver`, package webkit2gtk-driver) and
  Selenium, on an Xvfb display. Playwright's WebKit is a patched build it downloads. Under WebDriver, MiniBrowser
  runs every session ephemeral (in memory, like private browsing), so each page starts from empty storage.

Pages take JavaScript function expressions, `(arg) => ...`, which may return a promise; values come back as JSON.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from selenium import webdriver
from selenium.webdriver.webkitgtk.options import Options as WebKitOptions
from selenium.webdriver.webkitgtk.service import Service as WebKitService

from tests.conftest import REPO

FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
WEBKIT_DRIVER = shutil.which("WebKitWebDriver") or "/usr/bin/WebKitWebDriver"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
XVFB = shutil.which("Xvfb") or "/usr/bin/Xvfb"
BRIDGE = Path(__file__).with_name("firefox_bridge.mjs")
WEB_PACKAGE = REPO / "web" / "package.json"

#: Safari ships these on; WebKitGTK ships them off. The `webkit-storage` profile turns them on.
WEBKIT_STORAGE_FEATURES = "--features=+StorageAPI,+StorageAPIEstimate,+FileSystem,+AccessHandle"

CALL_TIMEOUT_S = 180.0


class ScriptError(RuntimeError):
    """A page script threw or rejected; the message is the page's."""


class EnginePage(Protocol):
    engine: str

    def evaluate(self, function: str, arg: Any = None) -> Any: ...
    def reload(self) -> None: ...
    def screenshot(self, path: Path) -> None: ...
    def errors(self) -> list[str]: ...
    def close(self) -> None: ...


def call_expression(function: str, arg: Any) -> str:
    return f"({function})({json.dumps(arg)})"


def wait_for(page: EnginePage, function: str, arg: Any = None, timeout_s: float = 60.0) -> Any:
    """Polls `function(arg)` until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(function, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{page.engine}: {function} stayed falsy for {timeout_s} s (last: {value!r})")
        time.sleep(0.2)


# --- Firefox ----------------------------------------------------------------------------------------------------


class FirefoxBridge:
    """One Firefox for the whole run, behind the Node bridge; requests go one at a time."""

    def __init__(self, log: IO[str]) -> None:
        self.process = subprocess.Popen(
            ["node", str(BRIDGE), str(WEB_PACKAGE), FIREFOX],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next = 0
        self._lock = threading.Lock()
        ready = self._line(60.0)
        self.version: str = "firefox/" + str(json.loads(ready)["ready"]).removeprefix("firefox/")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _line(self, timeout_s: float) -> str:
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"the Firefox bridge did not answer within {timeout_s} s") from None
        if line is None:
            raise RuntimeError(f"the Firefox bridge exited (code {self.process.poll()}); see its log")
        return line

    def call(self, op: str, timeout_s: float = CALL_TIMEOUT_S, **args: Any) -> Any:
        with self._lock:
            self._next += 1
            request_id = self._next
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"id": request_id, "op": op, "args": args}) + "\n")
            self.process.stdin.flush()
            while True:
                reply = json.loads(self._line(timeout_s))
                if reply.get("id") == request_id:
                    break
        if not reply["ok"]:
            raise ScriptError(reply["error"])
        return reply["value"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class FirefoxPage:
    engine = "firefox"

    def __init__(self, bridge: FirefoxBridge, url: str) -> None:
        self.bridge = bridge
        self.id: int = bridge.call("open", url=url)

    def evaluate(self, function: str, arg: Any = None) -> Any:
        return self.bridge.call("evaluate", page=self.id, expression=call_expression(function, arg))

    def reload(self) -> None:
        self.bridge.call("reload", page=self.id)

    def screenshot(self, path: Path) -> None:
        self.bridge.call("screenshot", page=self.id, path=str(path))

    def errors(self) -> list[str]:
        found: list[str] = self.bridge.call("errors", page=self.id)
        return found

    def close(self) -> None:
        self.bridge.call("close", page=self.id)


# --- WebKit -----------------------------------------------------------------------------------------------------


@contextmanager
def virtual_display() -> Iterator[str]:
    """An Xvfb server on the first free display number (Xvfb picks it: `-displayfd`), for the test run."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [XVFB, "-displayfd", str(write_end), "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        number = os.read(read_end, 32).decode().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        os.close(read_end)
        process.terminate()
        process.wait(timeout=10)


# Page errors: WebDriver classic has no event for them, so the page collects its own after each load (errors
# thrown before that are not seen; the Firefox profile sees them all).
COLLECT_ERRORS = """
if (!window.__crossbrowserErrors) {
  window.__crossbrowserErrors = [];
  addEventListener('error', (e) => window.__crossbrowserErrors.push(String(e.message)));
  addEventListener('unhandledrejection', (e) => window.__crossbrowserErrors.push(String(e.reason)));
}
"""

ASYNC_CALL = """
const done = arguments[arguments.length - 1];
Promise.resolve().then(() => %s).then(
  (value) => done({ ok: true, value: value === undefined ? null : value }),
  (error) => done({ ok: false, error: error instanceof Error ? error.name + ': ' + error.message : String(error) }),
);
"""


@dataclass(frozen=True)
class WebKitProfile:
    name: str
    args: tuple[str, ...]


class WebKitPage:
    """One WebDriver session per page: MiniBrowser's ephemeral session is the page's whole storage."""

    def __init__(self, profile: WebKitProfile, display: str, url: str, log: IO[str]) -> None:
        self.engine = profile.name
        options = WebKitOptions()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")
        for arg in profile.args:
            options.add_argument(arg)
        service = WebKitService(executable_path=WEBKIT_DRIVER, env={**os.environ, "DISPLAY": display}, log_output=log)
        self.driver = webdriver.WebKitGTK(options=options, service=service)
        self.driver.set_script_timeout(CALL_TIMEOUT_S)
        self.driver.set_window_size(1280, 860)
        self.driver.get(url)
        self.driver.execute_script(COLLECT_ERRORS)

    @property
    def version(self) -> str:
        return f"webkitgtk/{self.driver.capabilities.get('browserVersion', '?')}"

    def evaluate(self, function: str, arg: Any = None) -> Any:
        reply = self.driver.execute_async_script(ASYNC_CALL % call_expression(function, arg))
        if not reply["ok"]:
            raise ScriptError(reply["error"])
        return reply["value"]

    def reload(self) -> None:
        self.driver.refresh()
        self.driver.execute_script(COLLECT_ERRORS)

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))

    def errors(self) -> list[str]:
        found: list[str] = self.driver.execute_script("return window.__crossbrowserErrors || []")
        return found

    def close(self) -> None:
        self.driver.quit()
