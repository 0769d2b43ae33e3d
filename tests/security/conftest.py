"""Security tier: each test is an outsider's probe against the real stack (real HTTP API,
Celery workers, Docker, Redis, git). The shared ``stack`` fixtures are in tests/conftest.py."""
