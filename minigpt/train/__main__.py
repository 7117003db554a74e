"""``python -m minigpt.train RECIPE ...`` (and ``torchrun --nproc_per_node N -m minigpt.train RECIPE ...``)."""

import sys

from .cli import main

sys.exit(main())
