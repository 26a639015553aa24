"""Training: the fixed Protocol, run configs, the train/eval engine and the packed trainer."""

from .config import RunConfig
from .protocol import PROTOCOL_VERSION, STANDARD, Protocol

__all__ = ["Protocol", "STANDARD", "PROTOCOL_VERSION", "RunConfig"]
