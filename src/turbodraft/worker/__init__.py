"""The RunPod Serverless worker for finals: SDXL through diffusers.

It has its own requirements (``requirements.txt`` beside this file) so the gateway never needs torch:
:mod:`turbodraft.worker.schema` and :mod:`turbodraft.worker.images` import without it, and
:mod:`turbodraft.worker.pipeline` imports torch and diffusers only when the model is first loaded.
"""
