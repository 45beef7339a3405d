"""What the configuration tests share: the environment of a start, and ``python -m bot``
run to its end in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.crypto import generate_key
from tests.e2e import ROOT

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
API_TOKEN = "s3cret-api-token-0123456789abcdef"  # 32 characters, the shortest accepted


def env(**overrides: str) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "SECRETS_KEY": generate_key(), **overrides}


def run_bot(args: list[str], cwd: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "SECRETS_KEY")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, **extra_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
