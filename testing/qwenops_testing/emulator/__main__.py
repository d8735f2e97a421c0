"""``python -m qwenops_testing.emulator``: the emulated API until interrupted (see server.py)."""

from qwenops_testing.emulator.server import main

main()
