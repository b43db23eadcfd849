"""The transport layer: the HTTP client and its connection pool, stream decoders
(SSE, NDJSON) and secret redaction. The only place that imports httpx. Nothing here
knows a provider; everything above (providers, reliability, manager) builds on it.
"""
