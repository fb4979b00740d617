"""One run of the message path: N input messages in at once, counted out on ``$upstream``.

The emulator's hub publishes every message to the module's input (QoS 1, as fast as paho takes
them); the broker queues them and sends the module one at a time, the next once the module
acknowledged the last, as edgeHub does (``--inputs-in-flight`` lets more go at once, to
compare). The run lasts from the first input published to the last answer's arrival at the hub.
Each answer is matched to its input - by correlation id (the predictor's answers) or message id
(the pass-through's unchanged copies) - so that losses, duplicates and error answers show.
"""

from __future__ import annotations

import contextlib
import json
import time

from bench.edge_rig import INPUT, OUTPUT, SENDER
from bench.processes import Server, main_thread_cpu_seconds, tree_cpu_seconds
from devtools.edgehub import EdgeHub

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
BODY = json.dumps(ROW).encode()
PROPERTIES = {"site": "bench"}
# Sent and answered before each measured run, not recorded: first-use costs are not the path's.
WARMUP = 100


def timeout_for(count: int) -> float:
    """Generous: a run at 20 messages/s still finishes; a lost message costs this long."""
    return 30.0 + count / 20


def run(hub: EdgeHub, module: str, server: Server, count: int) -> dict[str, float]:
    """Send ``count`` messages to ``module``'s input and wait for their answers; figures."""
    _send(hub, module, server, WARMUP)  # a lost warm-up message shows in the next run's count
    return _send(hub, module, server, count)


def _rig_cpu_seconds(hub: EdgeHub, module: str) -> float:
    """CPU time of the load side: this process (the hub's threads) and the module's broker."""
    broker = hub.broker(module).process
    return time.process_time() + (tree_cpu_seconds(broker.pid) if broker else 0.0)


def _send(hub: EdgeHub, module: str, server: Server, count: int) -> dict[str, float]:
    first = len(hub.upstream)
    target = hub.counters().upstream + count
    cpu = server.cpu_seconds()
    main = main_thread_cpu_seconds(server.process.pid)
    rig_cpu = _rig_cpu_seconds(hub, module)
    started = time.time()  # the hub stamps arrivals with time.time()
    sent = {
        hub.send_input(
            module,
            INPUT,
            BODY,
            PROPERTIES,
            content_type="application/json",
            content_encoding="utf-8",
            sender=SENDER,
        )
        for _ in range(count)
    }
    injected = time.time() - started
    with contextlib.suppress(TimeoutError):  # what is missing is counted as lost below
        hub.wait_for_counters(lambda c: c.upstream >= target, timeout_for(count))
    main = main_thread_cpu_seconds(server.process.pid) - main  # first: never above cpu
    cpu = server.cpu_seconds() - cpu
    rig_cpu = _rig_cpu_seconds(hub, module) - rig_cpu
    arrived = [m for m in hub.upstream[first:] if m.module_id == module]
    answered = [m.correlation_id or m.message_id for m in arrived]
    matched = set(answered) & sent
    elapsed = max((m.received_at for m in arrived), default=time.time()) - started
    done = len(matched)
    return {
        "messages": float(count),
        "msgs_per_s": done / elapsed if elapsed > 0 else 0.0,
        "msgs_per_cpu_s": done / cpu if cpu > 0 else 0.0,
        "module_cpu_us_per_msg": cpu / done * 1e6 if done else 0.0,
        "lost": float(count - done),
        "duplicates": float(len(answered) - len(set(answered))),
        "unexpected": float(len(set(answered) - sent)),
        "error_answers": float(sum(m.output_name != OUTPUT for m in arrived)),
        # Where the module's CPU went: its event loop, or the SDK's own threads.
        "loop_thread_us_per_msg": main / done * 1e6 if done else 0.0,
        "sdk_threads_us_per_msg": (cpu - main) / done * 1e6 if done else 0.0,
        # The module's share of a core while it ran: below 1, it waited - for the broker and
        # the hub on the other core, or for a CPU that other processes share.
        "module_busy": cpu / elapsed if elapsed > 0 else 0.0,
        "rig_cpu_us_per_msg": rig_cpu / done * 1e6 if done else 0.0,
        "inject_s": injected,
        "run_s": elapsed,
    }
