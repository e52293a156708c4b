"""The private core of :mod:`adapters.processes`: one concept per module, re-exported there."""
