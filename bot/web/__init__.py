"""`bot serve`: the HTTP API, the web chat (`/`) and the agent console (`/agent`) over the same engine and queue."""
