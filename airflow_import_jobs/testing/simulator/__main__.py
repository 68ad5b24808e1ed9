"""``python -m airflow_import_jobs.testing.simulator``: serve the simulator until SIGTERM or SIGINT."""

import sys

from airflow_import_jobs.testing.simulator.cli import main

sys.exit(main())
