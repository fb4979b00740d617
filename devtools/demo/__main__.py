"""``python -m devtools.demo [--ci] [--keep-running] [--stop]``; ``scripts/demo`` sets up first."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import traceback
from pathlib import Path

from pydantic import ValidationError

from devtools.demo.calls import HttpError
from devtools.demo.capturing import step8_capture
from devtools.demo.processes import Processes
from devtools.demo.progress import StepError, detail, fail, say, step
from devtools.demo.run import Run
from devtools.demo.settings import Settings
from devtools.demo.story import (
    step1_start_services,
    step2_publish_v1,
    step3_start_modules,
    step4_predict,
    step5_update,
)
from devtools.demo.watching import step6_shadow, step7_drift


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--ci", action="store_true", help="non-interactive: never keep running")
    parser.add_argument("--keep-running", action="store_true", help="leave everything running")
    parser.add_argument("--stop", action="store_true", help="stop a demo left running, and exit")
    parser.add_argument("--state-dir", type=Path, help="instead of DEMO_STATE_DIR (.demo)")
    return parser.parse_args(argv)


def stop_earlier(procs: Processes, asked: bool = False) -> bool:
    """Stop what a demo in this state folder left running. False: some survived."""
    running = procs.leftovers()
    if running and not asked:
        say(f"An earlier demo in {procs.state_dir} is still running ({len(running)} processes);")
        say("stopping it first.")
    elif running:
        say(f"Stopping the demo in {procs.state_dir} ({len(running)} processes)")
    survivors = procs.stop_all()
    if survivors:
        say(f"demo: cannot stop processes {survivors} of an earlier demo; stop them by hand")
    return not survivors


def step9_stop(run: Run, keep: bool) -> bool:
    with step(9, "Stop everything the demo started" if not keep else "Leave everything running"):
        if keep:
            detail(f"predictor HTTP API: http://127.0.0.1:{run.http_port}/predict")
            detail(
                f"emulator control API: {run.hub.control} (GET /upstream, /modules/predictor/twin)"
            )
            detail(f"logs: {run.procs.logs}")
            detail("stop it all with:  make demo-stop   (or: scripts/demo --stop)")
            return True
        survivors = run.procs.stop_all()
        if survivors:
            raise StepError(f"processes {survivors} would not stop")
        detail(
            "stopped the sensor, the predictor, the emulator (and its mosquitto brokers) and "
            "Azurite; nothing the demo started is left running"
        )
    return True


def demo(settings: Settings, keep: bool) -> int:
    procs = Processes(settings.state_dir)
    if " " in str(procs.state_dir):
        say(f"demo: the state folder {procs.state_dir} holds a space; mosquitto cannot use it")
        return 2
    if not stop_earlier(procs):
        return 1
    shutil.rmtree(procs.state_dir, ignore_errors=True)
    procs.logs.mkdir(parents=True)
    say(f"The whole system on this machine; logs and state in {procs.state_dir}")
    run = Run(settings, procs)
    try:
        step1_start_services(run)
        step2_publish_v1(run)
        step3_start_modules(run)
        step4_predict(run)
        step5_update(run)
        step6_shadow(run)
        step7_drift(run)
        step8_capture(run)
        step9_stop(run, keep)
    except StepError as error:
        fail(error)
        _stop_after_failure(procs)
        return 1
    except HttpError as error:
        fail(StepError(f"a request failed: {error}", procs.log_path("edgehub")))
        _stop_after_failure(procs)
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        _stop_after_failure(procs)
        return 130
    v1, v2, v3 = run.versions
    say(
        f"\ndemo: OK - version 1 ({v1}) then version 2 ({v2}) answered, 0 errors during the "
        f"switch; version 3 ({v3}) promoted from shadow; the drifted sensor reported as drift, "
        "its rows captured to Azurite and read back by the trainer"
    )
    return 0


def _stop_after_failure(procs: Processes) -> None:
    survivors = procs.stop_all()
    if survivors:
        say(f"demo: processes {survivors} would not stop; stop them by hand")
    else:
        say("demo: stopped everything it had started")


def _interrupted(signum: int, frame: object) -> None:
    # SIGTERM (e.g. from a CI runner) stops everything as Ctrl-C does, instead of orphaning it.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"DEMO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        print(f"demo: invalid settings: {problems}", file=sys.stderr)
        return 2
    if args.state_dir is not None:
        settings = settings.model_copy(update={"state_dir": args.state_dir})
    if args.stop:
        procs = Processes(settings.state_dir)
        count = len(procs.leftovers())
        if not stop_earlier(procs, asked=True):
            return 1
        say(f"demo: stopped {count} processes" if count else "demo: nothing was running")
        return 0
    keep = (args.keep_running or settings.keep) and not (args.ci and not args.keep_running)
    try:
        return demo(settings, keep)
    except Exception:  # never a bare traceback: keep it in the demo's own log, say where
        log = Processes(settings.state_dir).logs / "demo.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc(), encoding="utf-8")
        print(f"demo: unexpected error: {sys.exc_info()[1]}; see its log: {log}", file=sys.stderr)
        _stop_after_failure(Processes(settings.state_dir))
        return 1


if __name__ == "__main__":
    sys.exit(main())
