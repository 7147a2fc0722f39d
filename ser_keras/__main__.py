"""``python -m ser_keras`` is the same as the ``ser-keras`` console script."""

import sys

from .cli.main import main

sys.exit(main())
