"""What every operator command's parser shares: complaints in one line, like every other
error of ``python -m bot``. Each command module adds its own subcommand
(``add_parser``); ``bot/__main__.py`` puts them together and dispatches."""

from __future__ import annotations

import argparse
from typing import NoReturn, TypeAlias


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its complaints in one line like every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see python -m bot --help)\n")


Subcommands: TypeAlias = "argparse._SubParsersAction[OneLineParser]"
