"""Prometheus metrics: one registry per running bot (tests build as many as they like)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.verifications = Counter(
            "twofa_verifications",
            "Code checks by result and channel (api or chat).",
            ["result", "channel"],
            registry=self.registry,
        )
        self.enrolments_started = Counter(
            "twofa_enrolments_started", "Enrolments started.", registry=self.registry
        )
        self.enrolments_completed = Counter(
            "twofa_enrolments_completed",
            "Enrolments completed (devices activated).",
            registry=self.registry,
        )
        self.open_requests = Gauge(
            "twofa_open_deactivation_requests",
            "Deactivation requests waiting for a decision.",
            registry=self.registry,
        )
        self.alert_outbox = Gauge(
            "twofa_alert_outbox_depth", "Alerts not delivered yet.", registry=self.registry
        )
        self.alert_delivery_failures = Counter(
            "twofa_alert_delivery_failures",
            "Alert messages the ops chat did not take (each is retried later).",
            registry=self.registry,
        )
        self.alerts_set_aside = Counter(
            "twofa_alerts_set_aside",
            "Alerts given up after a day of failed deliveries (kept, no longer retried).",
            registry=self.registry,
        )
        self.update_latency = Histogram(
            "twofa_update_handling_seconds",
            "Time from taking a Telegram update to finishing its handling.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

        self.webhook_deliveries = Counter(
            "twofa_webhook_deliveries",
            "Webhook delivery attempts by endpoint and outcome (delivered, failed: retried "
            "later, set_aside: given up after a day, gone: 410 disabled the endpoint).",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.webhook_outbox = Gauge(
            "twofa_webhook_outbox_depth",
            "Webhook deliveries not made yet (set-aside ones are not counted).",
            registry=self.registry,
        )
        self.webhook_oldest_age = Gauge(
            "twofa_webhook_oldest_undelivered_seconds",
            "Age of the oldest webhook delivery not made yet (0: none waits).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
