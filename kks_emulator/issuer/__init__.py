"""The issuer host of one HIMBARA bank: keys, a double-entry SQLite ledger and host operations."""
