import sys

try:
    from kbench.cli import entry
except KeyboardInterrupt:  # Ctrl-C while Python loads kbench
    print("kbench: interrupted", file=sys.stderr)
    sys.exit(130)

entry()
