"""Which language a Telegram user reads: the one they picked with /language, else the one
their Telegram app uses (German for ``de``, ``de-AT``, ``de-CH``; English otherwise)."""

from __future__ import annotations

from core.clock import Clock
from storage.db import Database
from storage.repositories import Transaction

LANGUAGES = ("en", "de")
DEFAULT = "en"


def from_telegram(code: str | None) -> str:
    """Telegram's ``language_code`` (an IETF tag such as ``de-AT``) to one we speak."""
    primary = (code or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT


def effective(chosen: str | None, telegram: str | None) -> str:
    return chosen if chosen in LANGUAGES else from_telegram(telegram)


class LanguagePreferences:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def for_update(self, user_id: int, telegram_code: str | None) -> str:
        """The user's language for this update; Telegram's report is kept when it changed
        (a notice sent to the user later is in it too)."""
        now = self._clock.now()

        def work(tx: Transaction) -> str:
            chosen, telegram = tx.languages.get(user_id)
            if telegram_code is not None and telegram_code != telegram:
                tx.languages.seen(user_id, telegram_code, now)
                telegram = telegram_code
            return effective(chosen, telegram)

        return await self._db.run(work)

    async def choose(self, user_id: int, language: str) -> bool:
        """/language: False for a language we do not speak."""
        if language not in LANGUAGES:
            return False
        now = self._clock.now()
        await self._db.run(lambda tx: tx.languages.choose(user_id, language, now))
        return True

    async def of(self, user_ids: list[int]) -> dict[int, str]:
        """The language of each of these users (English for one we never saw)."""
        found = await self._db.run(lambda tx: tx.languages.of(user_ids))
        return {uid: effective(*found.get(uid, (None, None))) for uid in user_ids}
