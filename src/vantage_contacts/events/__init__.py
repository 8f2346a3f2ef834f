"""The outbox: one event row per change, written in the change's own transaction."""
