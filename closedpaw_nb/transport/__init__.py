"""The transport layer: the HTTP client (`client`, the one module that imports aiohttp),
httpx for custom providers (`httpx_glue`), stream decoders (SSE, NDJSON), header and
address rules, and secret redaction. Nothing here knows a provider; everything above
(providers, reliability, manager) builds on it.
"""
