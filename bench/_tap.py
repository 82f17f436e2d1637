"""`python -m bench._tap BASE TOKEN AFTER OUT`: read BASE's event stream from just after
the event id AFTER, as a desk would, and keep OUT up to date with the ids of the events
seen: JSON `{"ids": [...], "reconnects": n}`, rewritten each second and at SIGTERM.

When the stream breaks (the process was killed, the network dropped) the tap connects
again, to the same process, with the Last-Event-ID of the last event it saw, as a
browser's EventSource does; so once the process is back, nothing is missed."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import httpx2 as httpx


def main(base: str, token: str, after: str, out: Path) -> None:
    ids: list[str] = []
    reconnects = 0
    last = after
    stop = threading.Event()

    def save() -> None:
        temporary = out.with_suffix(".tmp")
        temporary.write_text(json.dumps({"ids": list(ids), "reconnects": reconnects}))
        temporary.replace(out)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        save()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)

    def saver() -> None:
        while not stop.wait(1.0):
            save()

    threading.Thread(target=saver, daemon=True).start()
    timeout = httpx.Timeout(connect=5, read=60, write=5, pool=5)
    with httpx.Client(timeout=timeout) as client:
        while not stop.is_set():
            headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": last}
            try:
                with client.stream("GET", f"{base}/api/v1/events", headers=headers) as stream:
                    if stream.status_code != 200:
                        raise httpx.TransportError(f"answered {stream.status_code}")
                    frame_id: str | None = None
                    kind: str | None = None
                    for line in stream.iter_lines():
                        if line.startswith("id:"):
                            frame_id = line[3:].strip()
                        elif line.startswith("event:"):
                            kind = line[6:].strip()
                        elif line == "":
                            if frame_id is not None and kind is not None and kind != "reset":
                                ids.append(frame_id)
                            if frame_id is not None:
                                last = frame_id
                            frame_id = kind = None
            except httpx.TransportError:
                pass
            reconnects += 1
            time.sleep(0.5)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))
