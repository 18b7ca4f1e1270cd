"""Export for serving: a trained model as ``.pt2`` and ONNX files that output metres, checked and described."""
