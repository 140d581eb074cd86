"""The check the triggerer runs on each poll of a property-services job.

`HttpEventTrigger` imports this module by path (and reloads it on every poll), so it
stays tiny and imports nothing of ours.
"""

from __future__ import annotations

from typing import Any

TERMINAL = frozenset({"succeeded", "failed"})


async def job_finished(response: Any) -> bool:
    """Return True once the job has succeeded or failed, ending the wait."""
    if response.status_code != 200:
        return False
    body = response.json()
    return isinstance(body, dict) and body.get("status") in TERMINAL
