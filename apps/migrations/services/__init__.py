"""Services of the schema app: schema migrations, backups, maintenance, retention (see each module)."""
