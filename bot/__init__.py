"""csbot: an offline customer-service bot.

The conversation flow lives in :mod:`graphs`; every side effect (LLM, store, queue, audio) sits behind a narrow
interface in this package so that the flow reads top to bottom and each piece can be replaced or faked.
"""

__version__ = "0.1.0"

import sys as _sys

# jsonschema (under guardrails-ai) imports the optional `rfc3987_syntax` when it is installed, and that module
# compiles 38 lark grammars at import: about 2 s for every process (each `bot` command, each eval worker). Nothing
# here validates IRI formats, so the module is hidden; jsonschema then simply skips those two format checks.
_sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
