# The image every Airflow service in docker-compose.yaml runs: the official Airflow image
# plus our pinned dependencies. DAGs, include/ and plugins/ are mounted, not baked in.
FROM apache/airflow:3.3.2-python3.11

COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

ENV PYTHONPATH=/opt/airflow
