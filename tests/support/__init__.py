"""Plain helpers the tests share (conftest.py files hold fixtures only). What the benchmarks need
too (random-weight checkpoints, the production server on 127.0.0.1) is in classifier/testing/."""
