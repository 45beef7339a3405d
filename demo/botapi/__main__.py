"""``python -m demo.botapi [--port 8081]``: the local Bot API test server on its own."""

from demo.botapi.server import main

main()
