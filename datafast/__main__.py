"""`python -m datafast` runs the command line."""

import sys

from datafast.cli import main

sys.exit(main())
