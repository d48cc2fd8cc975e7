# Stub TensorRT-LLM checkout used by perf-run's end-to-end tests (see tests/stub-trtllm/README.md).
__version__ = "1.2.0rc0-stub"
