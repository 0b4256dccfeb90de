"""A local emulator of the legacy IBM Quantum job API (see DESIGN.md, "The emulator").

``Emulator`` serves the wire protocol of reference/ibmq-api.md on 127.0.0.1; ``main(argv)``
is the shell entry point behind ``jobarchive emulator``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .server import Emulator

__all__ = ["Emulator", "main", "serve"]


def serve(port: int = 8080, seed_jobs: int = 1000, seed: int = 0, seed_active: int = 0,
          time_scale: float = 60.0, host: str = "127.0.0.1", token: str | None = None,
          out=None) -> None:
    """Run an emulator in the foreground, print its URL and token, serve until Ctrl-C."""
    out = out or sys.stdout
    emu = Emulator(seed_jobs=seed_jobs, seed=seed, seed_active=seed_active,
                   time_scale=time_scale, host=host, port=port, token=token)
    emu.start()
    print(f"jobarchive emulator serving {seed_jobs} seeded jobs", file=out)
    print(f"  url:   {emu.url}", file=out)
    print(f"  token: {emu.token}", file=out)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  warning: listening on {host}, not only this machine; the token is the only "
              "guard", file=out)
    print("  (Ctrl-C to stop)", file=out, flush=True)
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobarchive.emulator [--port 8080] [--seed-jobs 1000] ...``"""
    parser = argparse.ArgumentParser(prog="jobarchive emulator",
                                     description="Serve the legacy IBM Quantum job API locally.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument("--seed-jobs", type=int, default=1000, help="synthetic history size")
    parser.add_argument("--seed-active", type=int, default=0, help="jobs still in flight")
    parser.add_argument("--seed", type=int, default=0, help="history seed")
    parser.add_argument("--time-scale", type=float, default=60.0,
                        help="emulated seconds per real second")
    parser.add_argument("--token", default=None, help="API token to accept (default: random)")
    args = parser.parse_args(argv)
    serve(port=args.port, seed_jobs=args.seed_jobs, seed=args.seed, seed_active=args.seed_active,
          time_scale=args.time_scale, host=args.host, token=args.token)
    return 0
