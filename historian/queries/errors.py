class HistoryQueryError(ValueError):
    """A history request that cannot be answered as asked (bad range, unknown tag, too many points).

    The web and API layers turn it into a 400 with this message.
    """
