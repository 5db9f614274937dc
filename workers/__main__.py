"""`python -m workers [--burst] [--queues a,b]`: the RQ worker, its scheduler and the periodic jobs.

Needs REDIS_URL (and the same DATABASE_URL as the web processes). Without Redis there is nothing
to run: jobs run in a background thread of the web process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys

from app import create_app
from app.core.jobs import QUEUES, jobs

from . import make_worker, run_cron


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", action="store_true", help="run the queued jobs, then exit (no periodic jobs)")
    parser.add_argument("--queues", default=",".join(QUEUES), help="comma-separated queues (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    app = create_app()
    redis_url = app.config["REDIS_URL"]
    if not redis_url:
        print(
            "Error: REDIS_URL is not set. Without Redis, jobs run in a thread of the web process "
            "(make run); the worker is for deployments with Redis.",
            file=sys.stderr,
        )
        return 2
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        print(f"Error: unknown queues: {', '.join(unknown) or '(none)'}; known: {', '.join(QUEUES)}.", file=sys.stderr)
        return 2
    cron = None
    if not args.burst:
        cron = multiprocessing.get_context("fork").Process(target=run_cron, args=(redis_url,), name="cron", daemon=True)
        cron.start()
    try:
        with app.app_context():
            worker = make_worker(jobs.redis, queues)
            worker.work(
                burst=args.burst, with_scheduler=True, logging_level=os.environ.get("LOG_LEVEL", "INFO").upper()
            )
    finally:
        if cron is not None and cron.is_alive():
            cron.terminate()
            cron.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
