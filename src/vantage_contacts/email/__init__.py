"""Outgoing email: an outbox written with the change, templates, senders (SMTP, .eml folder)."""
