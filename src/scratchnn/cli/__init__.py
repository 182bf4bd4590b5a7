"""The command line: ``scratchnn xor | train | predict | evaluate | summary | data``."""

from .main import main

__all__ = ["main"]
