"""The HTTP API for the organisation's login system: an adapter beside the Telegram
handlers, calling the same core."""
