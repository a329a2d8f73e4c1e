"""User-facing errors and how stage entry points report them."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input or configuration: reported as one clear message, without a traceback."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types a stage reports as a message (bad params, seeds, failed expectations)."""
    from mathforge.config import ParamsError
    from mathforge.expectations import ExpectationFailed
    from mathforge.generation import GenerationError
    from mathforge.seeds import SeedFileError

    return (UserError, ParamsError, SeedFileError, ExpectationFailed, GenerationError)


def run_stage(name: str, main: Callable[[list[str] | None], None]) -> None:
    """Run a stage's main(); on a user error print `<name>: error: ...` and exit 1."""
    try:
        main(None)
    except user_errors() as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        sys.exit(1)
