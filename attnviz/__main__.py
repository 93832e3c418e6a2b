"""python -m attnviz ...: see attnviz/cli.py."""
import sys

from attnviz.cli import main

sys.exit(main())
