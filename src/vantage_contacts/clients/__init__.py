"""Clients: the companies an agency works for, parents of contacts and tickets."""
