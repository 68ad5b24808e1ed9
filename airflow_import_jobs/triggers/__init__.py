"""The trigger that waits on import jobs in the triggerer."""
