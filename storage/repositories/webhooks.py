"""Webhook endpoints, their sealed signing secrets, the events and the delivery outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
    from_ts,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository

_ENDPOINT = (
    "id, name, url, event_types, allow_private, created_at, last_delivery_at, failing_since,"
    " disabled_at, disabled_reason"
)
_WAITING = "d.delivered_at IS NULL AND d.set_aside_at IS NULL"


def _endpoint(row: tuple[Any, ...]) -> WebhookEndpoint:
    types = str(row[3])
    return WebhookEndpoint(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        tuple(t for t in types.split(",") if t),
        bool(row[4]),
        from_ts_required(row[5]),
        from_ts(row[6]),
        from_ts(row[7]),
        from_ts(row[8]),
        row[9],
    )


class WebhookRepository(Repository):
    # ------------------------------------------------------------------ endpoints

    def add_endpoint(
        self,
        name: str,
        url: str,
        event_types: tuple[str, ...],
        allow_private: bool,
        now: datetime,
    ) -> int:
        row = self._one(
            "INSERT INTO webhook_endpoints (name, url, event_types, allow_private, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (name, url, ",".join(event_types), int(allow_private), to_ts(now)),
        )
        assert row is not None
        return int(row[0])

    def endpoint(self, name: str) -> WebhookEndpoint | None:
        row = self._one(f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE name = ?", (name,))
        return _endpoint(row) if row else None

    def endpoint_by_id(self, endpoint_id: int) -> WebhookEndpoint | None:
        row = self._one(f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
        return _endpoint(row) if row else None

    def endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint, in order of creation."""
        return [
            _endpoint(r)
            for r in self._all(f"SELECT {_ENDPOINT} FROM webhook_endpoints ORDER BY id")
        ]

    def remove_endpoint(self, endpoint_id: int) -> None:
        # Explicitly, not by the foreign keys' cascade alone: the order is the same on
        # both backends.
        self._run("DELETE FROM webhook_deliveries WHERE endpoint_id = ?", (endpoint_id,))
        self._run("DELETE FROM webhook_secrets WHERE endpoint_id = ?", (endpoint_id,))
        self._run("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))

    def disable(self, endpoint_id: int, reason: str, now: datetime) -> bool:
        return (
            self._run(
                "UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?"
                " WHERE id = ? AND disabled_at IS NULL",
                (to_ts(now), reason, endpoint_id),
            )
            == 1
        )

    def enable(self, endpoint_id: int, now: datetime) -> bool:
        """Turn a disabled endpoint on again; its held deliveries are due now, and their
        day of retries starts afresh. False if it was not disabled."""
        if (
            self._run(
                "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL"
                " WHERE id = ? AND disabled_at IS NOT NULL",
                (endpoint_id,),
            )
            != 1
        ):
            return False
        self._run(
            "UPDATE webhook_deliveries SET next_attempt_at = ?, first_failed_at = NULL"
            " WHERE endpoint_id = ? AND delivered_at IS NULL AND set_aside_at IS NULL",
            (to_ts(now), endpoint_id),
        )
        return True

    def waiting_count(self, endpoint_id: int) -> int:
        row = self._one(
            f"SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = ? AND {_WAITING}",
            (endpoint_id,),
        )
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------- secrets

    def add_secret(
        self, secret_id: str, endpoint_id: int, account_id: str, sealed: bytes, now: datetime
    ) -> None:
        self._run(
            "INSERT INTO webhook_secrets (id, account_id, endpoint_id, secret_sealed, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (secret_id, account_id, endpoint_id, sealed, to_ts(now)),
        )

    def retire_secrets(self, endpoint_id: int, until: datetime, now: datetime) -> None:
        """The current secret signs on until ``until`` beside the next one; those that
        had run out already go."""
        self._run(
            "DELETE FROM webhook_secrets WHERE endpoint_id = ? AND expires_at <= ?",
            (endpoint_id, to_ts(now)),
        )
        self._run(
            "UPDATE webhook_secrets SET expires_at = ?"
            " WHERE endpoint_id = ? AND expires_at IS NULL",
            (to_ts(until), endpoint_id),
        )

    def signing_secrets(self, endpoint_id: int, now: datetime) -> list[WebhookSecret]:
        """The secrets that sign now: the current one first, then one retired within the
        day."""
        rows = self._all(
            "SELECT id, account_id, secret_sealed, expires_at FROM webhook_secrets"
            " WHERE endpoint_id = ? AND (expires_at IS NULL OR expires_at > ?)"
            " ORDER BY expires_at IS NOT NULL, created_at DESC",
            (endpoint_id, to_ts(now)),
        )
        return [WebhookSecret(r[0], r[1], bytes(r[2]), from_ts(r[3])) for r in rows]

    # -------------------------------------------------------------------- events

    def next_seq(self, account_id: str) -> int:
        row = self._one("SELECT MAX(seq) FROM webhook_events WHERE account_id = ?", (account_id,))
        return int(row[0]) + 1 if row and row[0] is not None else 1

    def add_event(
        self,
        message_id: str,
        event_type: str,
        account_id: str,
        seq: int,
        body: str,
        endpoint_ids: list[int],
        now: datetime,
    ) -> None:
        """The event and one waiting delivery to each of ``endpoint_ids``."""
        row = self._one(
            "INSERT INTO webhook_events (message_id, type, account_id, seq, at, body)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (message_id, event_type, account_id, seq, to_ts(now), body),
        )
        assert row is not None
        for endpoint_id in endpoint_ids:
            self._run(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, created_at,"
                " next_attempt_at) VALUES (?, ?, ?, ?)",
                (int(row[0]), endpoint_id, to_ts(now), to_ts(now)),
            )

    # ---------------------------------------------------------------- deliveries

    def endpoints_due(self, now: datetime) -> list[int]:
        """Enabled endpoints with a delivery whose attempt is due."""
        rows = self._all(
            "SELECT DISTINCT d.endpoint_id FROM webhook_deliveries d"
            " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
            f" WHERE {_WAITING} AND e.disabled_at IS NULL AND d.next_attempt_at <= ?",
            (to_ts(now),),
        )
        return sorted(int(r[0]) for r in rows)

    def waiting(self, endpoint_id: int, limit: int) -> list[WebhookDelivery]:
        """The endpoint's deliveries still to make, oldest first."""
        rows = self._all(
            "SELECT d.id, d.endpoint_id, ev.message_id, ev.type, ev.body, d.attempts,"
            " d.next_attempt_at, d.first_failed_at FROM webhook_deliveries d"
            " JOIN webhook_events ev ON ev.id = d.event_id"
            f" WHERE d.endpoint_id = ? AND {_WAITING} ORDER BY d.id LIMIT ?",
            (endpoint_id, limit),
        )
        return [
            WebhookDelivery(
                r[0], r[1], r[2], r[3], r[4], r[5], from_ts_required(r[6]), from_ts(r[7])
            )
            for r in rows
        ]

    def mark_delivered(self, delivery: WebhookDelivery, now: datetime) -> None:
        self._run(
            "UPDATE webhook_deliveries SET delivered_at = ?, attempts = attempts + 1"
            " WHERE id = ? AND delivered_at IS NULL",
            (to_ts(now), delivery.id),
        )
        self._run(
            "UPDATE webhook_endpoints SET last_delivery_at = ?, failing_since = NULL WHERE id = ?",
            (to_ts(now), delivery.endpoint_id),
        )

    def retry_later(
        self, delivery: WebhookDelivery, at: datetime, error: str, now: datetime
    ) -> None:
        self._run(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?,"
            " first_failed_at = COALESCE(first_failed_at, ?), last_error = ? WHERE id = ?",
            (to_ts(at), to_ts(now), error, delivery.id),
        )
        self._run(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ?",
            (to_ts(now), delivery.endpoint_id),
        )

    def set_aside(self, delivery: WebhookDelivery, error: str, now: datetime) -> None:
        self._run(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, set_aside_at = ?,"
            " first_failed_at = COALESCE(first_failed_at, ?), last_error = ? WHERE id = ?",
            (to_ts(now), to_ts(now), error, delivery.id),
        )

    def depth(self) -> int:
        row = self._one(f"SELECT COUNT(*) FROM webhook_deliveries d WHERE {_WAITING}")
        return int(row[0]) if row else 0

    def oldest_waiting_at(self) -> datetime | None:
        row = self._one(f"SELECT MIN(d.created_at) FROM webhook_deliveries d WHERE {_WAITING}")
        return from_ts(row[0]) if row else None

    def set_aside_count(self) -> int:
        row = self._one("SELECT COUNT(*) FROM webhook_deliveries WHERE set_aside_at IS NOT NULL")
        return int(row[0]) if row else 0

    def prune(self, before: datetime, limit: int) -> int:
        """Up to ``limit`` deliveries made (or set aside) before ``before``, and the events
        left with none; how many deliveries went."""
        cutoff = to_ts(before)
        deleted = self._run(
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
            " WHERE delivered_at < ? OR set_aside_at < ? ORDER BY id LIMIT ?)",
            (cutoff, cutoff, limit),
        )
        self._run(
            "DELETE FROM webhook_events WHERE at < ? AND NOT EXISTS"
            " (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
            (cutoff,),
        )
        return deleted
