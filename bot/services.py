"""The core, assembled: what the Telegram handlers (and later the HTTP API) call."""

from __future__ import annotations

from dataclasses import dataclass

from bot.accounts import AccountDirectory
from bot.alerts import AlertService
from bot.audit_chain import AuditChain
from bot.cleanup import ChatCleanup
from bot.clock import Clock
from bot.config import Settings
from bot.conversation import Conversations
from bot.deactivation import DeactivationService
from bot.devices import DeviceService
from bot.enrolment import EnrolmentService
from bot.keys import check_keys_at_start
from bot.languages import LanguagePreferences
from bot.links import EnrolmentLinks
from bot.metrics import Metrics
from bot.notices import NoticeService
from bot.qr import QrRenderer
from bot.recovery import RecoveryHasher
from bot.support_desk import SupportDesk
from bot.verification import VerificationService
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
        )

    async def close(self) -> None:
        self.qr.close()
        await self.db.close()
