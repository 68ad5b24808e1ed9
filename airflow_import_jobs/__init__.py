"""airflow-import-jobs: an Apache Airflow 3 provider that starts, lists and waits on bulk import jobs in
Milvus, Zilliz Cloud and eGain Knowledge."""

__version__ = "0.1.0"
