import sys

from core.lifetime import stop_on_signals

stop_on_signals()  # first thing: a Ctrl-C even during the imports below ends in one line, not a traceback

from core.cli import main  # noqa: E402

sys.exit(main())
