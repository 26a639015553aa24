"""Reading ``.pt`` files that someone else may have written: tensors and plain data only.

``torch.load`` with ``weights_only=False`` unpickles arbitrary objects, and unpickling can run any
code: a ``checkpoint.pt`` in a shared runs directory (NFS for Ray, a colleague's tarball) would be a
program. Every ``.pt`` poolbench reads (checkpoints, packed checkpoints, LDA weights) goes through
``load_tensor_file``, which only ever uses ``weights_only=True`` and turns each way a file can be
wrong into one ``TensorFileError`` that names the file and says what to do.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from .fileio import LARGE_FILE_CAP, UnsafeFileError, open_regular


class TensorFileError(ValueError):
    """A ``.pt`` file that poolbench refuses or cannot read; the message names the file."""


class UnsafeTensorFileError(TensorFileError):
    """The file holds objects other than tensors and plain containers (a pickle that could run code)."""


def load_tensor_file(path: str | Path, map_location: Any = "cpu", fix: str = "") -> Any:
    """``torch.load(path, weights_only=True)``, with errors that name ``path``.

    ``fix`` is appended to the message for a damaged file (e.g. how to restart the run without it).
    """
    import torch  # here, not at the top: importing this module (through runs.py) stays light

    path = Path(path)
    try:
        with open_regular(path, LARGE_FILE_CAP) as (f, _):  # never a link, a FIFO or a device
            return torch.load(f, map_location=map_location, weights_only=True)
    except UnsafeFileError as e:
        raise TensorFileError(f"{e}" + (f" ({fix})" if fix else "")) from None
    except pickle.UnpicklingError as e:
        # weights_only's refusal of a global it does not allow (the payload is never executed);
        # any other unpickling error is a damaged file
        reason = next((line for line in str(e).splitlines() if "global" in line.lower()), None)
        if reason is None:
            raise TensorFileError(
                f"{path} cannot be read (not a tensor file): it is empty, truncated or corrupt"
                + (f"; {fix}" if fix else "")
            ) from None
        raise UnsafeTensorFileError(
            f"{path}: refused: it holds objects other than tensors and plain data ({reason.strip()}), and loading "
            f"them could run code. poolbench writes only tensors; do not use a file you did not make"
            + (f" ({fix})" if fix else "")
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError, IndexError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        detail = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
        raise TensorFileError(
            f"{path} cannot be read ({detail}): it is empty, truncated or corrupt" + (f"; {fix}" if fix else "")
        ) from None
