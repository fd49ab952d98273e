"""Every write of the compliance app goes through these modules (see each docstring)."""
