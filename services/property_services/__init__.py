"""A reference implementation of the property-services HTTP API (see API.md).

It stands for another team's service: nothing here imports from `include/` or `dags/`.
Run it with `python -m services.property_services`; build the ASGI app in code with
`services.property_services.app.create_app(settings)`.
"""
