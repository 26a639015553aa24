"""A user's pool in the benchmark's scaffold style: ``CustomPool.__init__(self)`` takes no channel
count, so its per-channel parameter is created on the first input it sees.

    poolbench check examples/custom_pool.py                      # the contract (class CustomPool)
    poolbench run --model resnet20 --dataset synthetic --pool-file examples/custom_pool.py --epochs 1
    python examples/custom_pool.py --arch resnet20 --dataset cifar10 --seed 42   # the benchmark's harness

The harness reads the data from --data-dir / --data-path, else $POOLBENCH_DATA_DIR, else the first
of ./data and ../shared/data that holds it (``--help`` says so; its first line names the folder).

The pool is mixed max-average pooling (Lee, Gallagher & Tu, AISTATS 2016): per channel,
a * max + (1 - a) * mean with a = sigmoid(w), w learned, init 0 (a = 0.5).
"""

import torch
import torch.nn as nn


class CustomPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.logit = None  # [C], created on the first forward (the scaffold does not know C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.logit is None:
            self.logit = nn.Parameter(torch.zeros(x.shape[1], device=x.device))
        a = torch.sigmoid(self.logit)
        return a * x.amax(dim=(2, 3)) + (1 - a) * x.mean(dim=(2, 3))


if __name__ == "__main__":  # the benchmark's command line, on poolbench's engine
    from poolbench.harness import main

    raise SystemExit(main(pool_file=__file__))
