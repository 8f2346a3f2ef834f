"""Vantage Contacts: the Contacts API of the Vantage agency-management platform."""

__version__ = "0.1.0"
