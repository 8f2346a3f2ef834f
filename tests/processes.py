"""Real server processes for the tests: start one on a free port, wait for it, always stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
CLI = BIN / "vantage-contacts"
START_TIMEOUT = 60.0  # seconds; a cold start on a busy 2-core machine takes a few
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(**extra: str) -> dict[str, str]:
    """A minimal environment: PATH and HOME only, plus what the test sets."""
    env = {"PATH": os.environ.get("PATH", str(BIN)), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(extra)
    return env


def uvicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "vantage_contacts.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, path: str = "/readyz", timeout: float = START_TIMEOUT) -> httpx.Response:
        """Poll `path` until it answers 200; fail (with the server's output) past the deadline."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited ({self.process.returncode}):\n{self.output()}")
            try:
                response = httpx.get(self.base_url + path, timeout=5)
                if response.status_code == 200:
                    return response
                last_error = f"status {response.status_code}"
            except httpx.TransportError as error:
                last_error = repr(error)
            time.sleep(0.1)  # between polls only; the deadline bounds the wait
        raise AssertionError(f"{path} not ready in {timeout}s ({last_error}):\n{self.output()}")


@contextmanager
def running(
    command: Sequence[str], *, port: int, env: Mapping[str, str], cwd: Path, log: Path
) -> Iterator[Server]:
    """Start `command` (stdout and stderr to `log`), yield it, and stop it whatever happens."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so its children stop with it
        )
        try:
            yield Server(process, f"http://127.0.0.1:{port}", log)
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
