"""A stand-in for the demo customer's own mail server (example.test → 127.0.0.1:2526):
every message Moat delivers is written to data/demo-inbox/ as an .eml file."""

import os
import sys
import time

from aiosmtpd.controller import Controller

INBOX = sys.argv[2] if len(sys.argv) > 2 else "data/demo-inbox"


class Store:
    async def handle_DATA(self, server, session, envelope):
        os.makedirs(INBOX, exist_ok=True)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{len(os.listdir(INBOX)):04d}.eml"
        with open(os.path.join(INBOX, name), "wb") as f:
            f.write(envelope.original_content)
        return "250 2.0.0 stored in the demo inbox"


if __name__ == "__main__":
    controller = Controller(Store(), hostname="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 2526)
    controller.start()
    while True:
        time.sleep(3600)
