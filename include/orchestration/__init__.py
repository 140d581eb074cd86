"""The few things that know Airflow: connections, retry policy, the step runner."""
