"""The leader's fencing token, as a sender's transaction reads it (core/leadership.py).

Taking a new epoch is not here: it runs on the leader lock's own session, in the
transaction that also checks that session holds the lock (storage/leader_lock.py)."""

from __future__ import annotations

from storage.repositories.base import Repository


class LeadershipRepository(Repository):
    def epoch(self) -> int:
        """The epoch the active bot took last; 0 before any bot was active."""
        row = self._one("SELECT epoch FROM leader_epoch WHERE id = 1")
        return int(row[0]) if row else 0
