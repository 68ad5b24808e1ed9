"""The sensor that waits on import jobs (poke, reschedule or deferrable)."""
