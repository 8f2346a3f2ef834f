"""Who is calling: API keys for integrators (portal sessions live in the portal package)."""
