"""A small named registry shared by pools and models (after timm's ``_registry.py``).

``Registry.register`` is a decorator; ``create`` builds by name (or accepts a class);
``list`` filters names with shell wildcards. Unlike timm, an unknown name raises a
``ValueError`` that lists every valid name, so a typo costs one line, not a traceback hunt.
"""

from __future__ import annotations

import builtins
import fnmatch
from collections.abc import Callable
from typing import Any


class Registry:
    def __init__(self, kind: str):
        self.kind = kind  # "pool" or "model": used in error messages
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable:
        """Decorator: ``@register("gem")`` (or bare ``@register()`` to use ``fn.__name__``)."""

        def wrap(obj: Callable) -> Callable:
            key = name or getattr(obj, "name", None) or obj.__name__
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            return obj

        return wrap

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries))
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def create(self, name_or_class: str | Callable[..., Any], **kwargs: Any) -> Any:
        factory = self.get(name_or_class) if isinstance(name_or_class, str) else name_or_class
        return factory(**kwargs)

    def list(self, pattern: str = "*") -> builtins.list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries
