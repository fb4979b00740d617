"""The transport-neutral request layer: decoded JSON in, validated rows; a prediction out."""
