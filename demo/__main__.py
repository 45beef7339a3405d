"""``python -m demo [--port 8088]``: see demo/run.py."""

from demo.run import main

main()
