"""CSV import and export of contacts, from the command line and through the API."""
