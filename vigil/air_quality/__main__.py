"""``python -m vigil.air_quality status|episodes|quality|feedback``: what the detector knows, the
data-quality figures per interval, and the operators' verdicts on its episodes, from and to its
tables.

The settings come from the detector Lambda's environment variables (``VIGIL_*``, as CDK sets them;
``DetectorSettings``), so the same command reads the cloud tables or the local moto server
(``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from vigil.air_quality.episodes import FEEDBACK_VERDICTS
from vigil.air_quality.read_api import (
    EpisodeNotFound,
    data_quality,
    detector_status,
    latest_data_quality,
    list_episodes,
    record_feedback,
)
from vigil.air_quality.service import service_from_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vigil.air_quality")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="detector and per-series status")
    status.add_argument("--now", help="ISO time to judge silence against (default: now)")
    status.add_argument("--summary", action="store_true", help="leave out the per-series rows")
    episodes = commands.add_parser("episodes", help="anomaly episodes by start time")
    episodes.add_argument("--since")
    episodes.add_argument("--until")
    episodes.add_argument("--kind")
    quality = commands.add_parser(
        "quality", help="data quality per interval: completeness, records by outcome and reason"
    )
    quality.add_argument("--since", required=True, help="ISO time of the first interval")
    quality.add_argument("--until", help="ISO time of the last interval (default: --since)")
    feedback = commands.add_parser("feedback", help="mark an episode as a real anomaly or not")
    feedback.add_argument("episode", help="the episode's id (see episodes)")
    feedback.add_argument("verdict", choices=FEEDBACK_VERDICTS)
    feedback.add_argument("--note", default="")
    args = parser.parse_args(argv)
    service = service_from_environment(os.environ)
    if args.command == "status":
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
        answer = detector_status(service, now)
        answer["data_quality"] = latest_data_quality(service)
        if args.summary:
            answer.pop("series")
    elif args.command == "episodes":
        answer = list_episodes(service, since=args.since, until=args.until, kind=args.kind)
    elif args.command == "quality":
        answer = data_quality(service, since=args.since, until=args.until or args.since)
    else:
        try:
            answer = record_feedback(service, args.episode, args.verdict, note=args.note)
        except EpisodeNotFound as exc:
            print(str(exc), file=sys.stderr)
            return 2
    print(json.dumps(answer, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
