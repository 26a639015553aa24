import sys

from poolbench.cli import main

sys.exit(main())
