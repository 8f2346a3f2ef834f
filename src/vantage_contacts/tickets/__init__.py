"""Tickets (minimal): what contacts submit, by the portal, by email or through the API."""
