"""Duplicate contacts: matching engine (matching.py) and the API around it."""
