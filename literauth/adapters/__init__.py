"""Adapters that plug any literauth provider into a cloud or LLM SDK's own credential hook.

One module per SDK (`azure`, `google`, `aws`, `httpx`, ...). Each imports its SDK on first
use, so importing `literauth` or an adapter module loads no SDK, and none of them is a
dependency of literauth: building an adapter without its package raises a
`ConfigurationError` naming what to install. literauth's cache stays the one source of
truth: the adapters report their provider's schedule so the SDK comes back to ask.
"""
