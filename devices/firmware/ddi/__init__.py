"""hawkBit Direct Device Integration (DDI) API v1: an adapter onto rollouts."""
