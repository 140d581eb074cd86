"""Run metadata for analysts: the listener's recorder, reconciliation and the report."""
