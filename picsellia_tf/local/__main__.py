"""``python -m picsellia_tf.local``: serve the local platform."""

from __future__ import annotations

import argparse
import sys

from picsellia_tf.local.command import add_arguments, run


def main() -> int:
    """Parse the serve options and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m picsellia_tf.local", description="Serve the local Picsellia platform."
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
