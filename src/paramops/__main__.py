"""``python -m paramops``: the ``paramops`` command line."""

from paramops.cli import main

raise SystemExit(main())
