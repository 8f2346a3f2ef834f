"""Contacts: the people at client companies, their roles, portal access and email preferences."""
