"""localstripe on 127.0.0.1, keeping its store in memory only.

localstripe pickles its whole store to /tmp/localstripe.pickle on every write, a file any other
localstripe on the machine shares; this runs it without that, listening on IPv4 loopback only.

    python -m fakes.localstripe_server --port 8420
"""

import argparse

from aiohttp import web
from localstripe import resources, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None
    web.run_app(server.app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
