"""Train a scikit-learn classifier, convert it to a contract-bearing ONNX model and publish it."""
