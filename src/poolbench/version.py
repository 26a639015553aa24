"""poolbench's version: its one home (``poolbench.__version__`` re-exports it; pyproject.toml reads it here)."""

__version__ = "0.1.0"
