"""The private core of :mod:`adapters.openssl`; import from there."""
