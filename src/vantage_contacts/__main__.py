from vantage_contacts.cli import app

app()
