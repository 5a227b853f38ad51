"""Tests of the vecstream Python clients (unittest). test_offline needs nothing; test_clients
needs a running `vecstream serve`, whose addresses come from the environment (see support.py):
`ctest -R app_python_client_test` starts one and runs this suite against it."""
