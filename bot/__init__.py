"""csbot: an offline customer-service bot.

The conversation flow lives in :mod:`graphs`; every side effect (LLM, store, queue, audio) sits behind a narrow
interface in this package so that the flow reads top to bottom and each piece can be replaced or faked.
"""

__version__ = "0.1.0"
