"""`python -m zsnr_core ...`: the command line lives in zsnr_core.cli."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
