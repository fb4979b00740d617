"""The whole system on one machine in one command: ``python -m devtools.demo`` (``make demo``).

Azurite, the edgeHub emulator, the trainer, the predictor and the sensor, each a real process with
its own log in the demo's state folder (``.demo/`` unless told otherwise). docs/demo.md tells the
story step by step.
"""
