"""The `kks` command line: one click group, sub-groups loaded lazily from their own modules."""
