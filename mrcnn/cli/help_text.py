"""Help for the terminal: the modules' reStructuredText docstrings as plain text."""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:mod|func|class|meth|data|attr):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str) -> str:
    """``text`` without reST markup: ````x```` and ``:mod:`x``` become ``x``."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


def data_set_specs() -> str:
    """The data-set specs every ``--dataset`` option takes (``mrcnn -h`` shows them)."""
    from mrcnn.data import specs

    body = specs.__doc__.split("\n\n", 1)[1]
    return "data set specs (--dataset, --val):\n" + "\n".join(
        "  " + line if line else line for line in plain(body).strip().splitlines())
