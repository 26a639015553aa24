"""poolbench: global pooling for CNN classifiers — a library, a contract checker and a benchmark."""

__version__ = "0.1.0"
