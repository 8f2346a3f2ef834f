"""CPU time of the processes taking part in a benchmark, read from /proc (Linux).

On a 2-core machine throughput is bounded by the CPU every process spends per item, added up:
CPU seconds per contact of the API server, the database and the client say how far the
service is from a target, and where the time goes, whatever the machine's load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _processes() -> dict[int, tuple[str, int, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def _tree(processes: dict[int, tuple[str, int, float]], root: int) -> set[int]:
    members, grew = {root}, True
    while grew:
        children = {pid for pid, (_, parent, _) in processes.items() if parent in members}
        grew = not children <= members
        members |= children
    return members


@dataclass
class CpuMeter:
    """CPU seconds spent between `start()` and `stop()` by a server's process tree, by the
    database's processes (`database_pids`, read at the stop: PostgreSQL's backends serving the
    benchmark's database, so other work on the server is not counted), and by this process."""

    server_pid: int
    database_pids: Callable[[], set[int]] = set
    server: float = 0.0
    database: float = 0.0
    client: float = 0.0
    _before: dict[int, tuple[str, int, float]] = field(default_factory=dict)
    _client_before: float = 0.0

    def start(self) -> None:
        self._before = _processes()
        self._client_before = time.process_time()

    def stop(self) -> None:
        after = _processes()
        self.client = time.process_time() - self._client_before
        self.server = self._spent(after, _tree(after, self.server_pid))
        self.database = self._spent(after, self.database_pids() & after.keys())

    def _spent(self, after: dict[int, tuple[str, int, float]], pids: Iterable[int]) -> float:
        return sum(
            after[pid][2] - (self._before[pid][2] if pid in self._before else 0.0) for pid in pids
        )

    @property
    def total(self) -> float:
        return self.server + self.database + self.client
