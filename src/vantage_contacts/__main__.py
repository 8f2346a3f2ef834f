from vantage_contacts.cli import app

if __name__ == "__main__":  # not when a spawned helper process imports this module
    app()
