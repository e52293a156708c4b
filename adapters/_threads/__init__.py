"""The private core of :mod:`adapters.threads`: one concept per module, re-exported there."""
