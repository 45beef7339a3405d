"""The 2FA domain as plain async Python: it imports nothing from telegram, handlers, api or bot."""
