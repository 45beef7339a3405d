"""A simulated Telegram Bot API for testing 2FA Desk without the network.

* `BotApiState` (state.py): the simulated Telegram in memory. Tests play users with
  ``send_text`` / ``press_button`` / ``block`` ..., inspect what the bot did with ``messages``,
  ``callback_answers``, ``calls`` ..., wait with ``wait_for_message`` / ``wait_for_calls`` and
  inject failures with ``fail_next``.
* `FakeBotApiRequest` (request.py): ``Bot(token, request=FakeBotApiRequest(state))``, no sockets.
* `BotApiServer` (server.py): the same state over HTTP for ``Bot(token, base_url=...)``, plus a
  JSON control API for other processes; ``python -m demo.botapi`` runs it standalone.
"""

from demo.botapi.models import SimChat, SimMessage, SimUser, buttons
from demo.botapi.payloads import solid_png
from demo.botapi.protocol import ApiError
from demo.botapi.request import FakeBotApiRequest
from demo.botapi.server import BotApiServer
from demo.botapi.state import BotApiState

__all__ = [
    "ApiError",
    "BotApiServer",
    "BotApiState",
    "FakeBotApiRequest",
    "SimChat",
    "SimMessage",
    "SimUser",
    "buttons",
    "solid_png",
]
