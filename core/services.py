"""The core, assembled: what the Telegram handlers (and later the HTTP API) call."""

from __future__ import annotations

from dataclasses import dataclass

from core.account_ids import account_ids_at_start
from core.accounts import AccountDirectory
from core.alerts import AlertService
from core.audit_chain import AuditChain
from core.challenges import ChallengeService
from core.cleanup import ChatCleanup
from core.clients import ClientRegistry, RateLimits
from core.clock import Clock
from core.config import Settings
from core.conversation import Conversations
from core.deactivation import DeactivationService
from core.devices import DeviceService
from core.enrolment import EnrolmentService
from core.inbox import UpdateInbox
from core.keys import check_keys_at_start
from core.languages import LanguagePreferences
from core.leadership import Leadership
from core.links import EnrolmentLinks
from core.metrics import Metrics
from core.notices import NoticeService
from core.qr import QrRenderer
from core.recovery import RecoveryHasher
from core.stray_secrets import StraySecrets
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
    inbox: UpdateInbox
    stray_secrets: StraySecrets
    clients: ClientRegistry
    rate_limits: RateLimits  # this process's counts
    # Who may send (core/leadership.py): the sole sender until bot/leader.py elects.
    leadership: Leadership
    webhooks: WebhookService
    challenges: ChallengeService

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
            # Account ids stored before the API normalised them get their one spelling;
            # two that are one account in NFC stop the start (one line).
            await account_ids_at_start(db, box, clock)
        except BaseException:
            await db.close()
            raise
        verification = VerificationService(db, box, clock, metrics)
        leadership = Leadership(db)
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
                leadership=leadership,
            ),
            cleanup=ChatCleanup(db, clock, leadership),
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
                leadership=leadership,
            ),
            support_desk=SupportDesk(db, clock, configured_agents=settings.support_agent_ids),
            alerts=AlertService(db, clock, leadership),
            metrics=metrics,
            devices=DeviceService(db, clock, verification, RecoveryHasher(box)),
            inbox=UpdateInbox(db, clock),
            stray_secrets=StraySecrets(db, box, clock, RecoveryHasher(box)),
            clients=ClientRegistry(db, clock, settings.api_token),
            rate_limits=RateLimits(settings.api_rate_limit, settings.api_auth_failure_limit),
            notices=NoticeService(db, clock, leadership),
            audit_chain=AuditChain(db, clock, box, leadership),
            leadership=leadership,
            webhooks=WebhookService(db, box, clock, metrics, leadership),
            challenges=ChallengeService(
                db,
                clock,
                verification,
                enabled=settings.push_approval,
                lifetime=settings.challenge_ttl,
                leadership=leadership,
            ),
        )

    async def close(self) -> None:
        self.qr.close()
        await self.db.close()
