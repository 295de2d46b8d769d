"""`python -m polpo_nb.cli`: the `polpo` command."""

from .app import main

raise SystemExit(main())
