"""Run the command line with ``python -m toolkeeper``."""

from toolkeeper.cli import main

main()
