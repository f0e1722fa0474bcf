"""The tenants repository 2_bbws_tenants_instances_dev as a fixture of the local estate (fixture.py)."""
