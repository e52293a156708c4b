"""The private core of :mod:`adapters.http_io`: one concept per module, re-exported there."""
