"""Prometheus metrics: one registry per running bot (tests build as many as they like).

``python -m bot api --workers N`` runs N processes behind one port, and a scrape reaches
one of them: there the parent sets ``PROMETHEUS_MULTIPROC_DIR`` (bot/workers.py), each
worker's prometheus_client keeps its values in files in that folder, and ``render``
reads every worker's files: counters summed, the gauges (read from the shared database
at each scrape) as most recently set.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Read by prometheus_client itself when it is imported: set before the process starts.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.verifications = Counter(
            "twofa_verifications",
            "Code checks by result, channel (api or chat) and API client (empty for the chat).",
            ["result", "channel", "client"],
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
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.alert_outbox = Gauge(
            "twofa_alert_outbox_depth",
            "Alerts not delivered yet.",
            multiprocess_mode="mostrecent",
            registry=self.registry,
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
        """This process's metrics; with several processes, all of theirs together."""
        folder = os.environ.get(MULTIPROCESS_DIR_ENV)
        if not folder:
            return generate_latest(self.registry)
        every_process = CollectorRegistry()
        MultiProcessCollector(every_process, path=folder)
        return generate_latest(every_process)
