"""What a process says about itself on ``GET /healthz``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Role:
    """What ``GET /healthz`` says about the process that answers."""

    name: str  # "bot" or "api"
    state: str | None = None  # for the bot: "standby" until it is "active"

    def describe(self) -> dict[str, str]:
        described = {"role": self.name}
        if self.state is not None:
            described["state"] = self.state
        return described
