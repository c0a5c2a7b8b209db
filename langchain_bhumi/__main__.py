"""`python -m langchain_bhumi`: the command line (see `langchain_bhumi.cli`)."""

import sys

from langchain_bhumi.cli import main

sys.exit(main())
