"""Labels from run directories, made safe for the format they are written into.

A pool label, a column or a protocol label comes from a ``config.json`` anyone can write, and it is
printed into terminals, Markdown, CSV files and figures. Each function here keeps a label readable
and takes away what the format would *execute* or *interpret*: ANSI escapes and newlines (a
terminal, a table's rows), raw HTML (Markdown renders it), spreadsheet formulas (a CSV opened in a
spreadsheet), mathtext (matplotlib renders ``$...$`` and fails on bad TeX), and length.
"""

from __future__ import annotations

import html
import re

MAX_LABEL = 200  # characters; longer labels are cut (with an ellipsis) where they are shown
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b.|[\x00-\x1f\x7f-\x9f]")  # ANSI sequences, C0/C1


def plain(text: object, limit: int = MAX_LABEL) -> str:
    """One line of printable text: escapes and control characters removed, runs of whitespace one
    space, at most ``limit`` characters."""
    s = _CONTROL.sub(" ", str(text))
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def markdown(text: object, limit: int = MAX_LABEL) -> str:
    """``plain``, then HTML escaped (Markdown passes raw HTML through) and table pipes escaped."""
    return html.escape(plain(text, limit), quote=False).replace("|", "\\|")


def csv_cell(value: object) -> object:
    """Strings made ``plain`` (no length cut: CSV is data) and, when a spreadsheet would read them as
    a formula (= + - @), prefixed with a quote, as OWASP recommends; other values unchanged."""
    if not isinstance(value, str):
        return value
    s = plain(value, limit=10**9)
    return "'" + s if s[:1] in ("=", "+", "-", "@") else s


def figure(text: object, limit: int = 60) -> str:
    """``plain`` and short, with ``$`` escaped so matplotlib never parses the label as mathtext."""
    return plain(text, limit).replace("$", r"\$")
