"""Tiny canvas-tool models with the real architectures, their ONNX exports and PyTorch references (docs/tools.md)."""
