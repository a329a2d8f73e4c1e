"""Prompt templates (Jinja files in this directory), rendered strictly.

A missing variable is an error (`StrictUndefined`), never an empty string.
Each template is tested against an expected rendering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

PROMPTS_DIR = Path(__file__).parent

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PROMPTS_DIR),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    autoescape=False,
)


def render(name: str, **variables: Any) -> str:
    """Render the template file `name` (e.g. ``"self_instruct.jinja"``) with `variables`."""
    return _ENV.get_template(name).render(**variables)
