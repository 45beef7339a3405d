"""What a login system may say about a login (the context its challenge message shows),
checked before the challenge is opened (``core.challenges``)."""

from __future__ import annotations

from core.identifiers import text_problem

CONTEXT_FIELDS = ("app", "ip", "location")
MAX_CONTEXT_CHARS = 100


class InvalidContext(ValueError):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def parse_context(value: object) -> dict[str, str]:
    """The context a login system sent, checked: an object of ``CONTEXT_FIELDS``, each a
    string of at most ``MAX_CONTEXT_CHARS`` with no control, format (bidi) or line
    separator characters. It is shown as text, never as markup; ``InvalidContext``
    otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidContext("invalid_context", "context must be a JSON object")
    context: dict[str, str] = {}
    for key, text in value.items():
        if key not in CONTEXT_FIELDS:
            raise InvalidContext(
                "unknown_field", f"context may hold {', '.join(CONTEXT_FIELDS)} only"
            )
        if text is None:
            continue
        if not isinstance(text, str):
            raise InvalidContext("invalid_context", f"context.{key} must be a string")
        if len(text) > MAX_CONTEXT_CHARS:
            raise InvalidContext(
                "invalid_context", f"context.{key} must be at most {MAX_CONTEXT_CHARS} characters"
            )
        if text_problem(text) is not None:
            raise InvalidContext(
                "invalid_context",
                f"context.{key} must be one line of plain text (no control or bidi characters)",
            )
        if text.strip():
            context[key] = text.strip()
    return context
