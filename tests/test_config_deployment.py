"""Settings of a deployment: PostgreSQL, the bot's username, webhook mode; the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from tests.config_helpers import API_TOKEN, env, run_bot

LOCAL = "http://127.0.0.1:8081/bot"


def test_postgresql_urls_are_accepted() -> None:
    url = "postgresql://twofa:s3cr%40t@db.example.org:5432/twofa"
    settings = load_settings(env(DATABASE_URL=url))
    assert settings.uses_postgresql and settings.database_url == url
    assert not load_settings(env()).uses_postgresql
    with pytest.raises(ConfigError) as caught:
        load_settings(env(DATABASE_URL="postgresql://twofa:pass word@db/twofa"))
    assert str(caught.value).startswith("DATABASE_URL") and "pass word" not in str(caught.value)


def test_the_bot_username_is_optional_and_checked() -> None:
    assert load_settings(env()).telegram_bot_username is None
    settings = load_settings(env(TELEGRAM_BOT_USERNAME="@Example_2fa_bot"))
    assert settings.telegram_bot_username == "Example_2fa_bot"
    for bad in ("example", "ex bot", "a" * 40 + "bot"):
        with pytest.raises(ConfigError, match=r"^TELEGRAM_BOT_USERNAME"):
            load_settings(env(TELEGRAM_BOT_USERNAME=bad))


def test_webhook_mode_has_a_secret_derived_from_the_token_unless_one_is_set() -> None:
    polling = load_settings(env())
    assert polling.webhook_url is None and polling.webhook_secret is None
    url = "https://bot.example.org/telegram/hook"
    one = load_settings(env(TELEGRAM_WEBHOOK_URL=url))
    again = load_settings(env(TELEGRAM_WEBHOOK_URL=url))
    other = load_settings(env(TELEGRAM_WEBHOOK_URL=url, TELEGRAM_BOT_TOKEN="42:" + "x" * 30))
    assert one.webhook_secret is not None and one.webhook_secret == again.webhook_secret
    assert one.webhook_secret != other.webhook_secret  # a new token, a new secret
    assert (
        len(one.webhook_secret) == 43
        and one.webhook_secret.replace("-", "").replace("_", "").isalnum()
    )
    assert (one.webhook_host, one.webhook_port, one.webhook_path) == (
        "127.0.0.1",
        8443,
        "/telegram/hook",
    )
    chosen = load_settings(env(TELEGRAM_WEBHOOK_URL=url, TELEGRAM_WEBHOOK_SECRET="A-b_9" * 7))
    assert chosen.webhook_secret == "A-b_9" * 7
    assert "A-b_9" not in repr(chosen)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"TELEGRAM_WEBHOOK_URL": "http://bot.example.org/hook"}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/hook?x=1"}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_WEBHOOK_URL": "bot.example.org/hook"}, "TELEGRAM_WEBHOOK_URL"),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://b.example.org/", "TELEGRAM_WEBHOOK_SECRET": "a b"},
            "TELEGRAM_WEBHOOK_SECRET",
        ),
        (
            {
                "TELEGRAM_WEBHOOK_URL": "https://b.example.org/",
                "TELEGRAM_WEBHOOK_SECRET": "x" * 257,
            },
            "TELEGRAM_WEBHOOK_SECRET",
        ),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://b.example.org/", "TELEGRAM_WEBHOOK_SECRET": "x"},
            "TELEGRAM_WEBHOOK_SECRET",
        ),
        (
            {
                "TELEGRAM_WEBHOOK_URL": "https://b.example.org/",
                "TELEGRAM_WEBHOOK_SECRET": "y" * 31,  # guessable: shorter than API_TOKEN's 32
            },
            "TELEGRAM_WEBHOOK_SECRET",
        ),
        ({"TELEGRAM_WEBHOOK_URL": "https://b.example.org/", "WEBHOOK_PORT": "0"}, "WEBHOOK_PORT"),
        (
            {
                "TELEGRAM_WEBHOOK_URL": "https://b.example.org/",
                "API_TOKEN": API_TOKEN,
                "API_PORT": "8443",
                "WEBHOOK_HOST": "0.0.0.0",  # noqa: S104 - never bound
            },
            "WEBHOOK_PORT",
        ),
    ],
)
def test_bad_webhook_settings_name_the_variable(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env(**overrides))
    message = str(caught.value)
    assert message.startswith(named) and "\n" not in message
    for secret in ("a b", "x" * 257, "y" * 31):
        assert secret not in message  # a secret is never quoted


def test_a_local_bot_api_server_may_post_to_a_plain_http_webhook() -> None:
    settings = load_settings(
        env(TELEGRAM_BASE_URL=LOCAL, TELEGRAM_WEBHOOK_URL="http://127.0.0.1:9000/hook")
    )
    assert settings.webhook_url == "http://127.0.0.1:9000/hook"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["api", "--workers", "0"], "--workers must be a whole number from 1 to 64"),
        (["api", "--workers", "many"], "--workers must be a whole number from 1 to 64"),
        (["launch"], "invalid choice: 'launch'"),
        (["copy-database"], "the following arguments are required: --to"),
    ],
)
def test_command_line_mistakes_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    result = run_bot(args, tmp_path, {})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.stderr


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_bot(["--help"], tmp_path, {})
    assert result.returncode == 0
    for command in ("api", "copy-database", "genkey"):
        assert command in result.stdout
