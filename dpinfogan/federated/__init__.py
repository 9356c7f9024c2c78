"""DPD-InfoGAN: private federated DP-InfoGAN on Flower.

``config`` (FedConfig: the federation's settings + a TrainConfig), ``task`` (plain PyTorch: one
client round over :class:`dpinfogan.train.Trainer`, the server's generator),
``fedrun`` (the server's run folder), ``client_app`` / ``server_app`` (thin Flower Message-API apps),
``coverage`` (which digits a generator draws) and ``simulation`` (Flower's simulation engine and
the isolated-client baseline). The command is :mod:`dpinfogan.cli.federated`; the app starts
federations as background jobs (:func:`dpinfogan.jobs.launch_federated`).
Importing this package imports no flwr; ``client_app`` and ``server_app`` do, and ``simulation``
when a simulation starts.
"""
