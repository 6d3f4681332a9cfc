"""What the test suite and the benchmarks (bench/) both need: model files in the official
formats with random weights, the development checkout's data in ../shared/, and the production
gunicorn server started on 127.0.0.1.

It lives in the package, as torch.testing and django.test do, so that bench/ never imports
from tests/. No production module imports it (tests/test_architecture.py checks this), and it
imports nothing from pytest: the benchmarks run without the test runner.
"""
