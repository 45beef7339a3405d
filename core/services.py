"""The core, assembled: what the Telegram handlers (and later the HTTP API) call."""

from __future__ import annotations

from dataclasses import dataclass

from core.accounts import AccountDirectory
from core.alerts import AlertService
from core.audit_chain import AuditChain
from core.cleanup import ChatCleanup
from core.clock import Clock
from core.config import Settings
from core.conversation import Conversations
from core.deactivation import DeactivationService
from core.devices import DeviceService
from core.enrolment import EnrolmentService
from core.keys import check_keys_at_start
from core.languages import LanguagePreferences
from core.links import EnrolmentLinks
from core.metrics import Metrics
from core.notices import NoticeService
from core.qr import QrRenderer
from core.recovery import RecoveryHasher
from core.support_desk import SupportDesk
from core.verification import VerificationService
from core.webhooks import WebhookService
from storage.db import Database, open_database


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    db: Database
    enrolment: EnrolmentService
    cleanup: ChatCleanup
    qr: QrRenderer
    verification: VerificationService
    links: EnrolmentLinks
    conversations: Conversations
    languages: LanguagePreferences
    accounts: AccountDirectory
    deactivation: DeactivationService
    support_desk: SupportDesk
    alerts: AlertService
    metrics: Metrics
    devices: DeviceService
    notices: NoticeService
    audit_chain: AuditChain
    webhooks: WebhookService

    @classmethod
    async def open(
        cls, settings: Settings, clock: Clock, metrics: Metrics | None = None
    ) -> Services:
        metrics = metrics or Metrics()
        db = await open_database(settings.database_url)
        box = settings.keyring()
        try:
            # Before anything serves: a value under a key that is not configured stops the
            # start (one line); values under a previous key are a warning.
            await check_keys_at_start(db, box, settings.secrets_keys_previous)
        except BaseException:
            await db.close()
            raise
        verification = VerificationService(db, box, clock, metrics)
        return cls(
            settings=settings,
            clock=clock,
            db=db,
            enrolment=EnrolmentService(
                db,
                box,
                clock,
                issuer=settings.totp_issuer,
                ttl=settings.enrolment_ttl,
                max_attempts=settings.enrolment_max_attempts,
                metrics=metrics,
                verifier=verification,
            ),
            cleanup=ChatCleanup(db, clock),
            qr=QrRenderer(settings.qr_render_processes),
            verification=verification,
            links=EnrolmentLinks(db, clock, verification, settings.enrollment_link_ttl),
            conversations=Conversations(db, clock),
            languages=LanguagePreferences(db, clock),
            accounts=AccountDirectory(db, clock),
            deactivation=DeactivationService(
                db,
                clock,
                support_enabled=settings.support_chat_id is not None,
                configured_agents=settings.support_agent_ids,
                default_duration=settings.deactivation_default,
                longest_duration=settings.deactivation_max,
                request_ttl=settings.request_ttl,
                waiting_alert_after=settings.request_sla,
            ),
            support_desk=SupportDesk(db, clock, configured_agents=settings.support_agent_ids),
            alerts=AlertService(db, clock),
            metrics=metrics,
            devices=DeviceService(db, clock, verification, RecoveryHasher(box)),
            notices=NoticeService(db, clock),
            audit_chain=AuditChain(db, clock, box),
            webhooks=WebhookService(db, box, clock, metrics),
        )

    async def close(self) -> None:
        self.qr.close()
        await self.db.close()
