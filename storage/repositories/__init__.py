"""One repository per aggregate, all bound to the transaction that owns them.

Plain synchronous code: it runs in a database thread, inside ``Database.run``, on SQLite
and PostgreSQL alike (the SQL is written once; ``storage/dialect.py`` adapts it).
"""

from __future__ import annotations

from storage.repositories.accounts import AccountRepository
from storage.repositories.agents import AgentRepository
from storage.repositories.alerts import AlertRepository
from storage.repositories.audit import AuditRepository
from storage.repositories.base import Connection
from storage.repositories.challenges import ChallengeRepository
from storage.repositories.cleanup import CleanupRepository
from storage.repositories.clients import ClientRepository
from storage.repositories.conversations import ConversationRepository, GrantRepository
from storage.repositories.devices import DeviceRepository
from storage.repositories.enrolments import EnrolmentRepository
from storage.repositories.inbox import InboxRepository
from storage.repositories.languages import LanguageRepository
from storage.repositories.leadership import LeadershipRepository
from storage.repositories.links import LinkRepository
from storage.repositories.notices import NoticeRepository
from storage.repositories.recovery import RecoveryCodeRepository
from storage.repositories.requests import RequestRepository
from storage.repositories.sealed import SealedRepository
from storage.repositories.security import SecurityRepository
from storage.repositories.webhooks import WebhookRepository


class Transaction:
    """The repositories of one open transaction (see ``Database.run``)."""

    def __init__(self, conn: Connection) -> None:
        self.connection = conn
        self.accounts = AccountRepository(conn)
        self.devices = DeviceRepository(conn)
        self.enrolments = EnrolmentRepository(conn)
        self.cleanup = CleanupRepository(conn)
        self.audit = AuditRepository(conn)
        self.security = SecurityRepository(conn)
        self.links = LinkRepository(conn)
        self.conversations = ConversationRepository(conn)
        self.grants = GrantRepository(conn)
        self.languages = LanguageRepository(conn)
        self.alerts = AlertRepository(conn)
        self.agents = AgentRepository(conn)
        self.requests = RequestRepository(conn)
        self.recovery = RecoveryCodeRepository(conn)
        self.notices = NoticeRepository(conn)
        self.sealed = SealedRepository(conn)
        self.inbox = InboxRepository(conn)
        self.clients = ClientRepository(conn)
        self.leadership = LeadershipRepository(conn)
        self.webhooks = WebhookRepository(conn)
        self.challenges = ChallengeRepository(conn)

    def ping(self) -> bool:
        return self.connection.execute("SELECT 1").fetchone() == (1,)
