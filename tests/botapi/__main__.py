"""``python -m tests.botapi [--port 8081]``: the local Bot API test server on its own."""

from tests.botapi.server import main

main()
