"""Run the async core from synchronous code (CLI, scripts, the sync API wrappers).

``asyncio.run`` installs and then restores a SIGINT handler in the main thread; restoring it makes
Python 3.11 build ``repr()`` of the finished task, which includes its result — for a sealed 50 MB
PDF that is a 50 MB repr, about half a second per document. A private event loop avoids the dance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["run_sync"]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop and close it properly."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
