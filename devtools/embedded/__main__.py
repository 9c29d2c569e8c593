"""`python -m devtools.embedded`: see devtools/embedded/cli.py."""

import sys

from devtools.embedded.cli import main

sys.exit(main())
