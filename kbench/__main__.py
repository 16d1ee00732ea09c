from kbench.cli import entry

entry()
