"""The demo window's defaults, shared by the simulated organisation and the demo services."""

DEFAULT_DEMO_START = "2026-10-01"
DEFAULT_DEMO_DAYS = 28
