"""DPD-InfoGAN: private federated DP-InfoGAN on Flower.

``task`` (plain PyTorch: settings, one client round over :class:`dpinfogan.train.Trainer`),
``fedrun`` (the server's run folder), ``client_app`` / ``server_app`` (thin Flower Message-API apps),
``simulation`` (Flower's simulation engine), ``launcher`` (background runs for the app) and ``cli``.
Importing this package imports no flwr; only ``client_app``, ``server_app`` and ``simulation`` do.
"""
