"""A simulated iris sensor: an IoT Edge module that sends flower measurements as telemetry."""
