"""``python -m bench.iot_threads``: where the predictor's CPU goes on the message path, by thread.

In the edgeHub emulator (as ``python -m bench --iot-only`` runs it), the predictor - and with
``--baseline REF`` the predictor as of that commit, beside it in every round, the order rotated -
takes the warm-up and ``--messages`` single-row messages in a fresh process
(``bench.named_predictor``, whose threads carry their Python names). Each thread's CPU time over
the run, from ``/proc``, is summed by group and divided by the messages answered; RSS is read
once the module is ready and again after the messages.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import sys
import tempfile
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from bench import candidates, message_path
from bench.candidates import REPO, Candidate
from bench.edge_rig import PREDICTOR, edge_rig
from bench.processes import Server
from devtools.edgehub import EdgeHub

_TICKS = os.sysconf("SC_CLK_TCK")
# (group, the thread names it holds), first match wins; the main thread is the event loop.
GROUPS = [
    ("inference threads", re.compile(r"inference_\d+")),
    ("loop's executor (SDK sends)", re.compile(r"asyncio_\d+")),
    ("SDK executors (handlers, pipeline)", re.compile(r"tpe-.*")),
    ("SDK event loops", re.compile(r"run_forever")),
    ("paho network loop", re.compile(r"_thread_main")),
]
LOOP, OTHER = "event loop (main thread)", "other threads, and threads that ended"
ROWS = [LOOP, *(name for name, _ in GROUPS), OTHER]


def group_of(name: str) -> str:
    return next((group for group, pattern in GROUPS if pattern.fullmatch(name)), OTHER)


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far by group, and the whole process's under ``"total"``."""
    seconds: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / _TICKS
        seconds[LOOP if int(task.name) == pid else group_of(name)] += used
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    seconds["total"] = (int(fields[11]) + int(fields[12])) / _TICKS  # ended threads' too
    return seconds


def one_run(server: Server, hub: EdgeHub, messages: int) -> dict[str, float]:
    pid = server.process.pid
    figures = {"RSS at ready, MB": server.rss_mb()}
    before = thread_seconds(pid)
    done = message_path.run(hub, PREDICTOR, server, messages)
    after = thread_seconds(pid)
    answered = message_path.WARMUP + messages - done["lost"]
    spent = {row: after[row] - before[row] for row in ROWS if row != OTHER}
    spent[OTHER] = after["total"] - before["total"] - sum(spent.values())
    figures |= {row: seconds / answered * 1e6 for row, seconds in spent.items()}
    figures["module CPU, us/msg"] = (after["total"] - before["total"]) / answered * 1e6
    figures["RSS after, MB"] = server.rss_mb()
    figures["lost"] = done["lost"]
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.iot_threads", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--baseline", action="append", default=[], metavar="REF")
    parser.add_argument("--hub-cpus", default="0")
    parser.add_argument("--module-cpus", default="1")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    named = ["bench.named_predictor"]
    # Each predictor's own code first on the path, then the repository for bench/.
    chosen: list[Candidate] = [
        replace(c, module=named, pythonpath=(*c.pythonpath, REPO))
        for c in [
            candidates.predictor(),
            *(candidates.baseline(ref, args.work_dir) for ref in args.baseline),
        ]
    ]
    figures: dict[str, list[dict[str, float]]] = defaultdict(list)
    work = Path(tempfile.mkdtemp(prefix="iot-threads-", dir=args.work_dir))
    with edge_rig(work, args.hub_cpus, args.module_cpus) as rig:
        for round_no in range(args.rounds):
            shift = round_no % len(chosen)
            for candidate in chosen[shift:] + chosen[:shift]:
                logging.info("round %d/%d: %s", round_no + 1, args.rounds, candidate.name)
                server = rig.start_predictor(candidate=candidate)
                try:
                    figures[candidate.name].append(one_run(server, rig.hub, args.messages))
                finally:
                    server.stop()
    names = [c.name for c in chosen]
    print(f"CPU us per message by thread, {args.messages} messages (+ warm-up), median (min-max)")
    print("".ljust(38) + "".join(name.rjust(24) for name in names))
    for row in [*ROWS, "module CPU, us/msg", "RSS at ready, MB", "RSS after, MB", "lost"]:
        cells = []
        for name in names:
            values = [run[row] for run in figures[name]]
            digits = 1 if "MB" in row else 0
            median, low, high = statistics.median(values), min(values), max(values)
            cells.append(f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})")
        print(row.ljust(38) + "".join(cell.rjust(24) for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
