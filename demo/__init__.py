"""Try 2FA Desk without Telegram: ``make demo`` (``python -m demo``).

`demo.botapi` is a simulated Telegram Bot API (the stand-in the tests run the bot against);
the demo serves a chat page beside it. Nothing here imports the bot's own packages: the bot
runs as its own process, as it would against Telegram.
"""
