"""`python -m kbench.cli` runs the command line, as `python -m kbench` does."""

from kbench.cli import entry

entry()
