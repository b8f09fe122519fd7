"""The service's tests run jobs on the same fixtures as the jobs' tests (`tests/jobs/conftest.py`)."""

from tests.jobs.conftest import config, db, fake, make_client, make_runner
from tests.service.live import live

__all__ = ["config", "db", "fake", "live", "make_client", "make_runner"]
