"""Connection types: what each one holds (``types``, plain data that also draws the UI form) and how a
stored Airflow connection is read and checked against it (``settings``)."""
