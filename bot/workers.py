"""``python -m bot api --workers N``: N API processes on one host, one port.

The parent starts N children (``python -m bot api``, each a whole API process), which
listen on the same API_HOST:API_PORT with SO_REUSEPORT: the kernel spreads the
connections among them. The parent serves nothing itself. It:

- asks Telegram for the bot's username once and hands it to the children
  (TELEGRAM_BOT_USERNAME), so N processes do not each ask;
- forwards SIGTERM and SIGINT to the children and exits when they are done (0);
- restarts a child that dies (a crash must not leave the host with fewer workers),
  unless children die more than MAX_RESTARTS times within RESTART_WINDOW_S: then it
  stops the others and exits 1, for systemd to see; a child that exits with 2 (a
  configuration problem, said in one line) stops them all at once with 2, since a
  restart would fail the same way;
- on Linux, has the kernel send each child SIGTERM should the parent itself die;
- gives the children a fresh private folder for their metrics (PROMETHEUS_MULTIPROC_DIR,
  core/metrics.py), so that /metrics from any of them counts what all of them did; a
  child that ends is marked dead there, and the folder goes when the parent exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from api.routes import BotUsername
from bot.roles import ask_bot_username, check_api_role
from core.config import Settings
from core.metrics import MULTIPROCESS_DIR_ENV

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
EXIT_CONFIG = 2
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: systemd's cgroup still stops every process of the unit


class Supervisor:
    def __init__(self, workers: int, env: Mapping[str, str]) -> None:
        self.workers = workers
        self.env = dict(env)
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self._deaths: deque[float] = deque()

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._forward)
        for _ in range(self.workers):
            self._spawn()
        logger.info("%d API workers started (pids %s)", self.workers, sorted(self.children))
        status = 0
        while self.children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            child = self.children.pop(pid, None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(wait_status)
            child.returncode = code  # reaped here: Popen must not wait for it again
            self._metrics_of_dead(pid)
            if self.stopping:
                continue
            status = self._died(pid, code)
            if status:
                self._stop_all(signal.SIGTERM)
        logger.info("API workers stopped")
        return status

    def _metrics_of_dead(self, pid: int) -> None:
        """Its counts stay in the totals; its live gauges (if any) go."""
        folder = self.env.get(MULTIPROCESS_DIR_ENV)
        if folder:
            mark_process_dead(pid, folder)

    def _spawn(self) -> None:
        child = subprocess.Popen(
            [sys.executable, "-m", "bot", "api"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # (no threads in this parent)
        )
        self.children[child.pid] = child

    def _died(self, pid: int, code: int) -> int:
        """A child ended without being asked to: restart it, or the exit status."""
        how = f"signal {-code}" if code < 0 else f"status {code}"
        if code == EXIT_CONFIG:
            logger.error("API worker %d refused to start (%s): stopping", pid, how)
            return EXIT_CONFIG
        now = time.monotonic()
        self._deaths.append(now)
        while self._deaths and self._deaths[0] < now - RESTART_WINDOW_S:
            self._deaths.popleft()
        if len(self._deaths) > MAX_RESTARTS:
            logger.error(
                "API workers died %d times within %.0f s (the last with %s): stopping",
                len(self._deaths),
                RESTART_WINDOW_S,
                how,
            )
            return 1
        logger.error("API worker %d exited with %s: starting another", pid, how)
        self._spawn()
        return 0

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            logger.info("stopping the API workers (%s)", signal.Signals(signum).name)
        self._stop_all(signum)

    def _stop_all(self, signum: int) -> None:
        self.stopping = True
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)


def run_workers(settings: Settings, workers: int) -> int:
    """Start ``workers`` API processes and watch them until they stop."""
    check_api_role(settings)
    env = dict(os.environ)
    if settings.telegram_bot_username is None:
        username = BotUsername()
        if asyncio.run(ask_bot_username(settings, username)) and username.value:
            env["TELEGRAM_BOT_USERNAME"] = username.value
    # Private (0700) and empty: a folder left by an earlier run would add its counts.
    metrics_dir = tempfile.mkdtemp(prefix="twofa-desk-metrics-")
    env[MULTIPROCESS_DIR_ENV] = metrics_dir
    try:
        return Supervisor(workers, env).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
