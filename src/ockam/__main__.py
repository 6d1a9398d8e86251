"""``python -m ockam``: the ``ockam`` command (used to spawn background nodes)."""

from __future__ import annotations

import sys

from ockam.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
