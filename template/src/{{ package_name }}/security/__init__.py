"""Security controls: tokens, password hashing and policy, server-side sessions, rate limits."""
