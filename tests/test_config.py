"""Configuration: the SPEC's variables, and one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from core.crypto import decode_key, generate_key
from tests.config_helpers import API_TOKEN, TOKEN, env, run_bot


def test_defaults_follow_the_spec() -> None:
    settings = load_settings(env())
    assert settings.telegram_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_base_file_url == "https://api.telegram.org/file/bot"
    assert settings.database_url == "sqlite:///data/twofa.sqlite3"
    assert settings.totp_issuer == "2FA Desk"
    assert settings.support_chat_id is None and settings.ops_chat_id is None
    assert settings.admin_user_ids == frozenset() and settings.support_agent_ids == frozenset()
    assert (settings.api_host, settings.api_port, settings.api_token) == ("127.0.0.1", 8080, None)
    assert settings.log_level == "INFO"


def test_every_variable_is_read() -> None:
    settings = load_settings(
        env(
            TELEGRAM_BASE_URL="http://127.0.0.1:8081/bot",
            TELEGRAM_BASE_FILE_URL="http://127.0.0.1:8081/file/bot",
            DATABASE_URL="sqlite:////var/lib/twofa/db.sqlite3",
            TOTP_ISSUER="Example Corp",
            SUPPORT_CHAT_ID="-1001",
            OPS_CHAT_ID="-1002",
            ADMIN_USER_IDS="1, 2",
            SUPPORT_AGENT_IDS="3",
            API_HOST="::1",
            API_PORT="9090",
            API_TOKEN=API_TOKEN,
            LOG_LEVEL="debug",
        )
    )
    assert settings.telegram_base_url == "http://127.0.0.1:8081/bot"
    assert settings.telegram_base_file_url == "http://127.0.0.1:8081/file/bot"
    assert settings.database_url == "sqlite:////var/lib/twofa/db.sqlite3"
    assert settings.totp_issuer == "Example Corp"
    assert (settings.support_chat_id, settings.ops_chat_id) == (-1001, -1002)
    assert settings.admin_user_ids == {1, 2} and settings.support_agent_ids == {3}
    assert (settings.api_host, settings.api_port, settings.api_token) == ("::1", 9090, API_TOKEN)
    assert settings.log_level == "DEBUG"


def test_secrets_stay_out_of_the_repr() -> None:
    values = env(API_TOKEN="api-token-value-0123456789abcdef")
    text = repr(load_settings(values))
    assert TOKEN not in text and values["SECRETS_KEY"] not in text
    assert "api-token-value" not in text


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"SECRETS_KEY": ""}, "SECRETS_KEY"),
        ({"SECRETS_KEY": "short"}, "SECRETS_KEY"),
        ({"SUPPORT_CHAT_ID": "support"}, "SUPPORT_CHAT_ID"),
        ({"ADMIN_USER_IDS": "1,bob"}, "ADMIN_USER_IDS"),
        ({"API_PORT": "99999"}, "API_PORT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"DATABASE_URL": "mysql://db/twofa"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://a b@db/twofa"}, "DATABASE_URL"),
        ({"TELEGRAM_BASE_URL": "http://127.0.0.1:8081"}, "TELEGRAM_BASE_URL"),
        ({"TOTP_ISSUER": "Bad:Issuer"}, "TOTP_ISSUER"),
        ({"API_TOKEN": "s3cret"}, "API_TOKEN"),
        ({"API_TOKEN": API_TOKEN[:31]}, "API_TOKEN"),
        ({"SECRETS_KEYS_PREVIOUS": "not-a-key"}, "SECRETS_KEYS_PREVIOUS"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env(**overrides))
    message = str(caught.value)
    assert message.startswith(named)
    assert "\n" not in message


@pytest.mark.parametrize("short", ["Q", "s3cret", "a" * 31, f"  {'b' * 31}  "])
def test_a_short_api_token_stops_the_start_and_says_how_to_fix_it(short: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env(API_TOKEN=short))
    message = str(caught.value)
    assert message.startswith("API_TOKEN") and "\n" not in message
    assert "32" in message and "openssl rand -hex 32" in message and "genkey" in message
    assert short.strip() not in message  # the secret itself is never printed


def test_an_api_token_of_32_characters_or_more_is_accepted() -> None:
    assert load_settings(env(API_TOKEN=API_TOKEN)).api_token == API_TOKEN
    assert load_settings(env(API_TOKEN=f" {API_TOKEN}x ")).api_token == f"{API_TOKEN}x"
    assert load_settings(env(API_TOKEN="")).api_token is None  # unset: no API


def test_a_short_api_token_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    extra = {"TELEGRAM_BOT_TOKEN": TOKEN, "SECRETS_KEY": generate_key(), "API_TOKEN": "changeme"}
    result = run_bot([], tmp_path, extra)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: API_TOKEN"), result.stderr
    assert "changeme" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("extra", "named"),
    [({}, "TELEGRAM_BOT_TOKEN"), ({"TELEGRAM_BOT_TOKEN": TOKEN}, "SECRETS_KEY")],
)
def test_missing_variable_stops_the_start_with_one_line(
    tmp_path: Path, extra: dict[str, str], named: str
) -> None:
    result = run_bot([], tmp_path, extra)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "Traceback" not in result.stderr


def test_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nSECRETS_KEY=too-short\n")
    result = run_bot([], tmp_path, {})
    assert result.returncode == 2
    assert result.stderr.startswith("error: SECRETS_KEY is malformed")


def test_genkey_prints_a_usable_key(tmp_path: Path) -> None:
    result = run_bot(["genkey"], tmp_path, {})
    assert result.returncode == 0
    key = result.stdout.strip()
    assert load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "SECRETS_KEY": key}).secrets_key


def test_previous_keys_are_read_in_order_and_the_current_one_among_them_is_harmless() -> None:
    current, older, oldest = generate_key(), generate_key(), generate_key()
    settings = load_settings(
        env(SECRETS_KEY=current, SECRETS_KEYS_PREVIOUS=f" {older}, {current},{oldest}, ")
    )
    assert settings.secrets_keys_previous == tuple(map(decode_key, (older, current, oldest)))
    assert load_settings(env()).secrets_keys_previous == ()  # unset: none
    assert load_settings(env(SECRETS_KEYS_PREVIOUS=" ")).secrets_keys_previous == ()
    assert older not in repr(settings) and oldest not in repr(settings)


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        (["{old}", "c2hvcnQ="], "entry 2 of 2 is malformed (not one key of 44 characters)"),
        (["{old}", "short", "{old}"], "entry 2 of 3 is malformed (not one key of 44"),
        (["{old}", "{old}", "", "AAAA"], "entry 4 of 4 is malformed (not one key of 44"),
        (["{old} {old}"], "entry 1 of 1 is malformed (not one key of 44 characters)"),
        (["{old}x", "{old}"], "entry 1 of 2 is malformed (not one key of 44 characters)"),
        (["{old}", "A" * 43], "entry 2 of 2 is malformed (not URL-safe base64)"),
    ],
)
def test_a_malformed_previous_key_is_one_line_that_names_the_entry(
    entries: list[str], says: str
) -> None:
    old = generate_key()
    value = ",".join(entry.format(old=old) for entry in entries)
    with pytest.raises(ConfigError) as caught:
        load_settings(env(SECRETS_KEYS_PREVIOUS=value))
    message = str(caught.value)
    assert message.startswith("SECRETS_KEYS_PREVIOUS ") and says in message, message
    assert "\n" not in message and "genkey" in message
    assert old not in message and old[:20] not in message  # a key is never printed


def test_a_malformed_previous_key_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    old = generate_key()
    (tmp_path / ".env").write_text(
        f"TELEGRAM_BOT_TOKEN={TOKEN}\nSECRETS_KEY={generate_key()}\n"
        f"SECRETS_KEYS_PREVIOUS={old},{old[:30]}\n"
    )
    result = run_bot([], tmp_path, {})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: SECRETS_KEYS_PREVIOUS entry 2 of 2")
    assert old[:30] not in result.stderr and "Traceback" not in result.stderr


def test_the_api_rate_limits_default_and_take_the_limits_notation() -> None:
    settings = load_settings(env())
    assert (settings.api_rate_limit, settings.api_auth_failure_limit) == ("50/second", "10/minute")
    custom = load_settings(env(API_RATE_LIMIT="600/minute", API_AUTH_FAILURE_LIMIT="5 per hour"))
    assert (custom.api_rate_limit, custom.api_auth_failure_limit) == ("600/minute", "5 per hour")


@pytest.mark.parametrize("name", ["API_RATE_LIMIT", "API_AUTH_FAILURE_LIMIT"])
@pytest.mark.parametrize("value", ["fast", "0/second", "10/fortnight"])
def test_a_malformed_api_rate_limit_stops_the_start_with_one_line(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env(**{name: value}))
    message = str(caught.value)
    assert message.startswith(name) and value in message and "\n" not in message
