"""The one error the health numerics raise: bad input, with a message an engineer can act on."""


class HealthModelError(ValueError):
    """The data cannot give a sound model or score (too few rows, a flat signal, NaN or inf, wrong shape)."""
