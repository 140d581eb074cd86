"""The business of building a property from a partner's submission; imports no Airflow."""
