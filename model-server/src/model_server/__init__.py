"""Swin-T image classification server: FastAPI in front of a dynamic batcher."""
