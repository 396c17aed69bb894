"""Command handlers, one module per application area. Each handler is `fn(card, cmd) -> bytes`
and raises `SwError` for any answer other than 9000."""
