"""The import's helper process ends with the process that started it, even one killed with
SIGKILL (which cannot stop its helper itself): a real parent, killed for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import asyncio, os, sys, time
from vantage_contacts.imports import helper

helper_pid = asyncio.run(helper.run(os.getpid))
print(helper_pid, flush=True)
time.sleep(600)
"""
WAIT_SECONDS = 30  # a bound for a busy 2-core machine, not a measurement


@pytest.fixture(autouse=True)
def _once(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("does not depend on the database; run once")


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_killed_parent_takes_its_helper_with_it() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert parent.stdout is not None
        helper_pid = int(parent.stdout.readline())
        assert helper_pid != parent.pid and alive(helper_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=WAIT_SECONDS)
        deadline = time.monotonic() + WAIT_SECONDS
        while alive(helper_pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the helper's state, bounded by the deadline
        assert not alive(helper_pid), "the helper outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
