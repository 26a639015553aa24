"""A small named registry shared by pools and models (after timm's ``_registry.py``).

``Registry.register`` is a decorator; ``create`` builds by name (or accepts a class);
``list`` filters names with shell wildcards. A renamed entry keeps its old name as an alias
(``register("new", aliases=("old",))``): old names still build it and ``canonical`` maps them to
the new one, but only the new name is listed. Unlike timm, an unknown name raises a
``ValueError`` that lists every valid name, so a typo costs one line, not a traceback hunt.
"""

from __future__ import annotations

import ast
import builtins
import fnmatch
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


class Registry:
    def __init__(self, kind: str):
        self.kind = kind  # "pool" or "model": used in error messages
        self._entries: dict[str, Callable[..., Any]] = {}
        self._aliases: dict[str, str] = {}  # old name -> the name it was renamed to

    def register(self, name: str | None = None, aliases: tuple[str, ...] = ()) -> Callable:
        """Decorator: ``@register("gem")`` (or bare ``@register()`` to use ``fn.__name__``)."""

        def wrap(obj: Callable) -> Callable:
            key = name or getattr(obj, "name", None) or obj.__name__
            for k in (key, *aliases):
                if (k in self._entries and self._entries[k] is not obj) or self._aliases.get(k, key) != key:
                    raise ValueError(f"{self.kind} {k!r} is registered twice")
            self._entries[key] = obj
            self._aliases.update(dict.fromkeys(aliases, key))
            return obj

        return wrap

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` (itself, or the name an alias was renamed to)."""
        return self._aliases.get(name, name)

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._entries[self.canonical(name)]
        except KeyError:
            valid = ", ".join(sorted(self._entries))
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def create(self, name_or_class: str | Callable[..., Any], **kwargs: Any) -> Any:
        factory = self.get(name_or_class) if isinstance(name_or_class, str) else name_or_class
        return factory(**kwargs)

    def list(self, pattern: str = "*") -> builtins.list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: str) -> bool:
        return self.canonical(name) in self._entries


def declared_names(folders: Iterable[str], decorator: str) -> builtins.list[str]:
    """The names ``@decorator("name", ...)`` registers in the modules of ``folders``, read from their
    source without importing them: the command line checks a name before torch loads. Sorted; empty
    where no source can be read (then the caller leaves the name to the imported registry)."""
    names: set[str] = set()
    for folder in folders:
        for path in sorted(Path(folder).glob("*.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, ValueError):
                continue
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                first = node.args[0]
                if called == decorator and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return sorted(names)
