"""Implementations under test, one sub-package per operation (plus model families in `models`).

Importing a sub-package registers what it holds with `kbench.registry`; nothing here touches a
device, compiles or times anything at import.
"""
