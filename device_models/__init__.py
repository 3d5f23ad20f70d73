"""The device models shipped with the hub, one TOML file per model (installed as package data).

This folder is the import package ``c2c_hub.device_models_data`` so that a wheel carries it;
see :func:`c2c_hub.device_models.shipped_models_dir`.
"""
