"""``python -m ser_keras`` is the same as the ``ser-keras`` console script."""

import sys

from .cli import main

sys.exit(main())
