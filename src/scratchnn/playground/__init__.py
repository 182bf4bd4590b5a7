"""The playground: a page in the browser that trains networks with this library.

``scratchnn playground`` serves it (`serve`); docs/playground.md tells what it shows.
"""

from .server import PlaygroundServer, make_server, serve
from .session import Session

__all__ = ["PlaygroundServer", "Session", "make_server", "serve"]
