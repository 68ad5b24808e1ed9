"""Response checks for the http provider's ``HttpEventTrigger`` (it re-imports this module on every poll)."""

from typing import Any


async def milvus_job_done(response: Any) -> bool:
    """A Milvus ``describe`` answer whose job reached a terminal state."""
    return (response.json().get("data") or {}).get("state") in ("Completed", "Failed")


async def egain_job_done(response: Any) -> bool:
    """An eGain ``status`` answer whose job reached a terminal state."""
    return response.json().get("status") in ("Successful", "Failed", "Cancelled")
