"""Airflow plugin: record every `property_builder` run and step attempt for analysts.

Thin on purpose: the listener lives in `include/orchestration/analytics_listener.py`,
the SQL in `include/analytics/recorder.py`, the schema in migration 0004.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.orchestration.analytics_listener import listener


class PropertyBuilderAnalytics(AirflowPlugin):
    """Registers the analytics listener."""

    name = "property_builder_analytics"
    listeners = [listener]
