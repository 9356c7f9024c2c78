"""DP-InfoGAN: InfoGAN trained with differentially private SGD on the discriminator."""
__version__ = "0.1.0"
