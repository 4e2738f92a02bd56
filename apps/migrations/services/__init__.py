"""Operations services: backups, maintenance, schema migrations, retention (see each module)."""
