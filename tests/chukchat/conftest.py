# The `server_process` fixture: the platform as real uvicorn processes (tests/support/server_process.py).
from tests.support.server_process import server_process  # noqa: F401
