"""Entry point of the frozen ``flowdesk`` bundle (PyInstaller needs a script, not a module)."""

import multiprocessing
import sys

from desktop.app import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
