"""Stub `tensorrt_llm` package: only the version (and the fake trtllm-serve under commands/)."""
from .version import __version__  # noqa: F401
