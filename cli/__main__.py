"""``python -m cli``: the same as the ``kafka-agent`` command."""

import sys

from cli import main

sys.exit(main())
