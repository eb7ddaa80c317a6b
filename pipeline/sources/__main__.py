"""`python -m pipeline.sources NAME=PATH[:FORMAT] ...`: load each source and print its summary line."""

import sys

from pipeline.sources import main

raise SystemExit(main(sys.argv[1:]))
