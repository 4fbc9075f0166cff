"""``python -m backend``: the same CLI as the ``backend`` console script."""

from backend.cli import main

raise SystemExit(main())
