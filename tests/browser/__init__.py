"""Real-browser tests: the Airflow UI's connection forms in headless Chromium, driven by Playwright."""
