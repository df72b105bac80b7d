"""The embedded broker: kombu's filesystem transport, with messages written atomically.

kombu's own ``filesystem`` channel creates the message file under its final name and then
writes it, while a consuming worker may list, move and read that file before the write is
done; the worker then reads an empty or partial message and stops with a JSONDecodeError
(seen under serving traffic). Here each message is written to a hidden ``.part`` file that
no consumer picks up (consumers take only ``<name>.<queue>.msg``) and renamed into place,
which is atomic on POSIX file systems.

``config.celery`` points the ``filesystem://`` scheme at this transport.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Put ``payload`` onto ``queue``: write a hidden file, then rename it into place."""
        filename = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final_path = os.path.join(self.data_folder_out, filename)
        partial_path = os.path.join(self.data_folder_out, f".{filename}.part")
        try:
            with open(partial_path, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial_path, final_path)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final_path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
