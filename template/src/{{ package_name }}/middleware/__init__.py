"""Pure ASGI middleware, one concern each, configured by arguments."""
